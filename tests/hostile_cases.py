"""Helpers of the hostile-input tests: a hand-built fit result (no solver, nothing to
compile but the model), snapshots of folders, and the check that a result folder holds
one complete run and nothing partial."""

import hashlib
import json
import os
import signal
from pathlib import Path

import numpy as np

from xpcsfit.fitting.result import OptimizationResult
from xpcsfit.io.atomic import MANIFEST, STAGING_PREFIX
from xpcsfit.physics.parameters import ParameterSpace

RESULT_FILES = {"parameters.json", "fit_report.json", "fitted_data.npz"}
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + k)}: &{chr(98 + k)} [{', '.join([f'*{chr(97 + k)}'] * 9)}]\n" for k in range(9))
"""A YAML of < 800 bytes whose aliases expand to 9¹⁰ ≈ 3.5e9 leaves."""


def fake_result(data, quality="good", mode="static_isotropic", tag=0.0):
    """An OptimizationResult for `data` (static: D0, alpha, D_offset); `tag` shifts D0 so
    that two runs write different files."""
    n = data.n_phi
    space = ParameterSpace.create(mode, n)
    x = np.concatenate([np.full(n, 0.3), np.full(n, 1.0), [2e3 + tag, 0.5, 10.0]])
    status = "converged" if quality == "good" else "failed"
    return OptimizationResult(
        parameters=x, uncertainties=0.01 * np.abs(x), covariance=np.diag((0.01 * x) ** 2),
        chi_squared=float(data.n_points), reduced_chi_squared=1.0 if quality == "good" else 9.0,
        success=quality == "good", message="hand-built", iterations=1, execution_time=0.0,
        convergence_status=status, quality_flag=quality, device_info={"strategy": "standard"},
        parameter_names=space.full_names, n_points=data.n_points, n_free=x.size)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (hidden ones too) by relative path, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def no_partial_files(folder: Path) -> None:
    """No staging folder, no temporary file."""
    leftovers = [p.name for p in folder.iterdir()
                 if p.name.startswith((STAGING_PREFIX, ".xpcsfit-probe-")) or p.name.endswith(".tmp")]
    assert not leftovers, leftovers


def complete_run(folder: Path, extra: set[str] = frozenset()) -> dict:
    """Assert that `folder` holds exactly one complete run: a manifest whose files are all
    present with their sizes and SHA-256, every result file and figure listed, nothing
    partial; `extra` names files that are not results (user files). Returns the
    parameters.json of the run."""
    no_partial_files(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["complete"] is True
    listed = set(manifest["files"])
    present = {p.name for p in folder.iterdir() if p.is_file()} - {MANIFEST} - set(extra)
    assert listed >= RESULT_FILES and listed - set(extra) == present, (listed, present)
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
    return json.loads((folder / "parameters.json").read_text())


def sigint_self() -> None:
    """Deliver a real SIGINT to this process (handled at the next bytecode)."""
    os.kill(os.getpid(), signal.SIGINT)
