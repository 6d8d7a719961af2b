"""Simulated data written as a beamline would: an APS-U HDF5 file plus a matching config.

Each file is written under a temporary name and renamed into place (never half-written)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..physics.parameters import PHYSICAL_NAMES
from ..physics.simulate import simulate
from ._optional import require
from .atomic import write_file_atomic, write_text_atomic
from .template import config_template

logger = logging.getLogger(__name__)

DATA_NAME, CONFIG_NAME, TRUTH_NAME = "simulated_xpcs.h5", "config.yaml", "truth.json"
OTHER_Q_FACTOR = 1.3
"""The file also holds a second q (q × 1.3) so that q selection is exercised."""


def q_bins(q: float, n_q: int = 2) -> list[float]:
    """The q values [Å⁻¹] of a simulated file: q·(1 + 0.3·k), k = 0..n_q−1 (n_q = 2: q and
    q × 1.3)."""
    if int(n_q) != n_q or n_q < 1:
        raise ValueError(f"n_q: must be an integer >= 1, got {n_q!r}")
    return [float(q) * (1.0 + (OTHER_Q_FACTOR - 1.0) * k) for k in range(int(n_q))]


def write_aps_u(path: str | Path, c2: np.ndarray, q: Sequence[float], phi: Sequence[float],
                dtype=np.float32) -> Path:
    """Write full c2 matrices c2[iq, iφ] (n_q, n_phi, n_t, n_t) in the APS-U layout: q and
    φ grids, one upper triangle per (q, φ) bin under xpcs/twotime/correlation_map, and the
    1-based processed_bins (bin = iq·n_phi + iφ + 1)."""
    h5py = require("h5py")
    c2 = np.asarray(c2)
    n_q, n_phi = c2.shape[:2]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f["xpcs/qmap/dynamic_v_list_dim0"] = np.asarray(q, dtype=np.float64)
            f["xpcs/qmap/dynamic_v_list_dim1"] = np.asarray(phi, dtype=np.float64)
            group = f.create_group("xpcs/twotime/correlation_map")
            bins = []
            for iq in range(n_q):
                for ip in range(n_phi):
                    b = iq * n_phi + ip + 1
                    group.create_dataset(f"c2_{b:05d}", data=np.triu(c2[iq, ip]).astype(dtype),
                                         compression="gzip", compression_opts=1)
                    bins.append(b)
            f["xpcs/twotime/processed_bins"] = np.asarray(bins, dtype=np.int64)

    return write_file_atomic(path, write)


def simulate_files(
    out_dir: str | Path, *, mode: str, truth: Mapping[str, float], contrast: Any, offset: Any,
    phi: Sequence[float], n_t: int, dt: float, q: float, L: float, noise: float = 0.01,
    seed: int = 0, start: Mapping[str, float] | None = None, n_q: int = 2,
) -> dict[str, Path]:
    """Simulate c2 at the `n_q` q-bins `q_bins(q, n_q)` (default: q and q·1.3; the same
    physics, noise seeds seed + k), write `simulated_xpcs.h5` (APS-U), `config.yaml`
    (pointing at it, start values `start`, default: the defaults) and `truth.json`.

    Units: dt [s], q [Å⁻¹], L [Å], φ [deg]; `truth` holds the physical parameters by name.
    Returns the three paths.
    """
    out = Path(out_dir)
    physical = [float(truth[n]) for n in PHYSICAL_NAMES[mode]]
    matrices, truths = [], []
    q_values = q_bins(q, n_q)
    for k, q_k in enumerate(q_values):
        data, tr = simulate(physical, contrast, offset, n_t=n_t, dt=dt, phi=phi, q=q_k, L=L,
                            noise=noise, seed=seed + k, mode=mode)
        matrices.append(np.asarray(data.g2)[np.argsort(data.phi_order)])  # file (input) order
        truths.append(tr)
    data_path = write_aps_u(out / DATA_NAME, np.stack(matrices), q_values, phi)
    text = config_template(mode, values={
        "dt": float(dt), "q": float(q), "L": float(L), "data_folder_path": ".",
        "data_file_name": DATA_NAME, "cache_file_path": None, "initial": dict(start or {})})
    cfg_path = write_text_atomic(out / CONFIG_NAME, text)
    tr = truths[0]
    truth_path = write_text_atomic(out / TRUTH_NAME, json.dumps({
        "mode": mode, "physical": dict(zip(PHYSICAL_NAMES[mode], physical, strict=True)),
        "contrast": np.asarray(tr["contrast"]).tolist(), "offset": np.asarray(tr["offset"]).tolist(),
        "phi_sorted": sorted(float(p) for p in phi), "q": q, "q_values": q_values, "L": L, "dt": dt, "n_t": n_t,
        "noise": noise, "seed": seed}, indent=2))
    logger.info("wrote %s, %s, %s", data_path, cfg_path, truth_path)
    return {"data": data_path, "config": cfg_path, "truth": truth_path}
