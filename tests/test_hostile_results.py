"""Result folders under failure and interruption: files appear together or not at all,
stale figures go, user files stay, and nothing partial is ever left.

SIGINT is sent to this process for real (os.kill) at chosen points: inside np.savez with
half of fitted_data.npz written, between the JSON files, between the renames of the
commit (where it is held back until the commit ends), and inside figure drawing.
"""

import errno
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

import xpcsfit
from hostile_cases import complete_run, fake_result, no_partial_files, sigint_self, snapshot
from xpcsfit.io import atomic, results
from xpcsfit.io.atomic import STAGING_PREFIX, write_text_atomic
from xpcsfit.io.results import write_results

N_T = 8


def _data(n_phi):
    rng = np.random.default_rng(n_phi)
    g2 = 1.0 + 0.2 * rng.random((n_phi, N_T, N_T))
    return xpcsfit.XPCSData.from_arrays(g2, 0.1 * np.arange(N_T), np.linspace(0, 90, n_phi),
                                        q=0.005, L=2e6, sigma=0.02)


CONFIG = xpcsfit.FitConfig(analysis_mode="static_isotropic")


def _write(out, n_phi=2, tag=0.0):
    data = _data(n_phi)
    return write_results(out, fake_result(data, tag=tag), data, CONFIG)


@pytest.fixture(autouse=True)
def python_sigint():
    """Python's own SIGINT handler: a process launched in the background (nohup, `&` in a
    script) starts with SIGINT ignored, and then no KeyboardInterrupt would ever come."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@pytest.fixture
def previous(tmp_path):
    """A folder holding a complete earlier run (D0 = 2000) and a user's own file."""
    out = tmp_path / "res"
    _write(out)
    (out / "notes.txt").write_text("mine")
    return out, snapshot(out)


def test_refit_with_fewer_angles_removes_stale_figures(tmp_path):
    pytest.importorskip("matplotlib")
    from xpcsfit.io.plots import plot_results

    out = tmp_path / "res"
    _write(out, n_phi=3)
    plot_results(out)
    assert (out / "c2_heatmap_phi02.png").is_file()
    (out / "notes.txt").write_text("mine")
    _write(out, n_phi=2, tag=1.0)
    p = complete_run(out, {"notes.txt"})
    assert p["parameters"]["D0"]["value"] == 2001.0
    assert not list(out.glob("*.png"))  # figures of the earlier fit are gone with it
    assert not (out / "c2_heatmaps.pdf").exists()
    figures = plot_results(out)
    assert sorted(f.name for f in figures) == ["c2_cuts.png", "c2_heatmap_phi00.png",
                                               "c2_heatmap_phi01.png", "c2_heatmaps.pdf",
                                               "parameters.png"]
    complete_run(out, {"notes.txt"})  # figures added to the manifest
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("failing", ["fitted_data.npz", "fit_report.json"])
def test_a_failed_write_leaves_the_earlier_run_untouched(previous, monkeypatch, failing):
    out, before = previous
    full = OSError(errno.ENOSPC, "No space left on device")
    real_savez, real_write_text = np.savez, Path.write_text

    def savez(path, **arrays):
        if Path(path).name == failing:
            raise full
        real_savez(path, **arrays)

    def write_text(self, *args, **kwargs):
        if self.name == failing:
            real_write_text(self, "{\"trunc", encoding="utf-8")
            raise full
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(results.np, "savez", savez)
    monkeypatch.setattr(Path, "write_text", write_text)
    with pytest.raises(OSError, match="No space"):
        _write(out, tag=1.0)
    assert snapshot(out) == before  # not one byte changed, no new parameters.json


REAL_SAVEZ = np.savez


def _half_written_savez(path, **arrays):
    """np.savez that writes half of the archive to `path`, then gets Ctrl-C."""
    REAL_SAVEZ(path, **arrays)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])
    sigint_self()


def _json_then_sigint(real):
    def write_text(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        if self.name == "parameters.json":
            sigint_self()  # after the first JSON file, before the report
        return out
    return write_text


def _replace_then_sigint(real):
    calls = []

    def replace(src, dst):
        real(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            sigint_self()  # between two renames of the commit
    return replace


@pytest.mark.parametrize("point", ["mid npz", "between json", "in commit"])
def test_sigint_while_writing(previous, monkeypatch, point):
    out, before = previous
    if point == "mid npz":
        monkeypatch.setattr(results.np, "savez", _half_written_savez)
    elif point == "between json":
        monkeypatch.setattr(Path, "write_text", _json_then_sigint(Path.write_text))
    else:
        monkeypatch.setattr(atomic.os, "replace", _replace_then_sigint(os.replace))
    with pytest.raises(KeyboardInterrupt):
        _write(out, tag=1.0)
    if point == "in commit":  # held back: the commit finished, then the interrupt came
        assert complete_run(out, {"notes.txt"})["parameters"]["D0"]["value"] == 2001.0
        assert (out / "notes.txt").read_text() == "mine"
    else:
        assert snapshot(out) == before
    no_partial_files(out)


def test_manifest_keeps_files_it_does_not_own(previous):
    out, _ = previous
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["notes.txt"] = {"bytes": 4, "sha256": "x"}  # e.g. listed by a tool
    (out / "manifest.json").write_text(json.dumps(manifest))
    _write(out, tag=1.0)
    new = json.loads((out / "manifest.json").read_text())
    assert "notes.txt" in new["files"] and (out / "notes.txt").read_text() == "mine"


def test_abandoned_staging_folders_are_cleaned(previous):
    out, _ = previous
    dead = out / f"{STAGING_PREFIX}999999999-abc"  # above any pid_max: no such process
    live = out / f"{STAGING_PREFIX}1-abc"  # pid 1 runs: its staging folder may be in use
    for folder in (dead, live):
        folder.mkdir()
        (folder / "fitted_data.npz").write_bytes(b"half")
    _write(out, tag=1.0)
    assert not dead.exists() and live.exists()


def test_atomic_text_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "config.yaml"
    write_text_atomic(path, "old\n")

    def fail(tmp):
        tmp.write_text("partial")
        raise OSError(errno.EIO, "I/O error")

    with pytest.raises(OSError):
        atomic.write_file_atomic(path, fail)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_plots_keep_a_backend_already_chosen(tmp_path):
    """In Jupyter pyplot is already set up (inline backend): plot_results must not switch
    it to Agg. Checked in a subprocess with a non-Agg backend chosen first."""
    pytest.importorskip("matplotlib")
    import subprocess
    import sys

    out = tmp_path / "res"
    _write(out, n_phi=2)
    code = ("import matplotlib; matplotlib.use('svg'); import matplotlib.pyplot as plt; "
            "from xpcsfit.io.plots import plot_results; import sys; "
            "size = plt.rcParams['font.size']; "
            f"paths = plot_results({str(out)!r}); "
            "assert plt.rcParams['font.size'] == size, 'settings changed'; "
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend(); "
            "assert len(paths) == 5, paths")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("value", "error", "shown"), [
    (3412.3, 447.3, ("3412", "447")), (0.5551, 0.05103, ("0.555", "0.051")),
    (2.034e-4, 9.958e-6, ("2.034e-04", "0.100e-04")), (6.664e-6, 1e-5, ("7e-06", "10e-06")),
    (1.0, float("inf"), ("1", "inf")), (0.0, 0.02, ("0.000", "0.020"))])
def test_parameter_table_rounds_values_to_their_error(value, error, shown):
    pytest.importorskip("matplotlib")
    from xpcsfit.io.plots import value_and_error

    assert value_and_error(value, error) == shown
