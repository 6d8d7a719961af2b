"""Hostile input through the `xpcsfit` command: exact exit code, exactly one line on stderr,
no traceback, and every file that existed before untouched.

The fit is replaced by a hand-built result where the solver is not under test (the real
fit runs end to end in test_cli.py), so each case takes well under a second. Ctrl-C is a
real SIGINT sent to this process (and, once, from outside to a child process).
"""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("yaml")

import xpcsfit  # noqa: E402
from hostile_cases import (  # noqa: E402
    ALIAS_BOMB,
    complete_run,
    fake_result,
    no_partial_files,
    sigint_self,
    snapshot,
)
from xpcsfit.cli import EXIT_CODES, main  # noqa: E402
from xpcsfit.io import atomic, dataset, results  # noqa: E402
from xpcsfit.io.hdf5 import read_hdf5 as real_read_hdf5  # noqa: E402
from xpcsfit.io.simulated import write_aps_u  # noqa: E402
from xpcsfit.io.template import config_template  # noqa: E402

CONFIG = "config.yaml"


REAL_FIT = xpcsfit.fit


def _good(data, config, **kw):
    return fake_result(data)


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    """Simulated static data with 3 and with 2 angles (10 frames), and in res/ a complete
    run on the 3 angles, figures included."""
    root = tmp_path_factory.mktemp("sims")
    t = 0.1 * np.arange(10)
    for n_phi in (3, 2):
        folder = root / f"phi{n_phi}"
        decay = np.exp(-np.abs(t[:, None] - t[None, :]))  # any smooth symmetric c2 will do
        c2 = 1.0 + 0.3 * np.broadcast_to(decay, (1, n_phi, 10, 10))
        write_aps_u(folder / "simulated_xpcs.h5", c2, [0.005], np.linspace(0, 90, n_phi))
        (folder / CONFIG).write_text(config_template("static_isotropic", values={
            "dt": 0.1, "q": 0.005, "data_folder_path": ".", "data_file_name":
            "simulated_xpcs.h5", "cache_file_path": None}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(xpcsfit, "fit", _good)
        assert main(["fit", "--config", str(root / "phi3" / CONFIG), "--output-dir",
                     str(root / "res")]) == 0
    assert len(list((root / "res").glob("c2_heatmap_phi*.png"))) == 3
    return root


@pytest.fixture
def world(sims, tmp_path, monkeypatch, capsys):
    """A fresh copy of `sims`, with `xpcsfit.fit` replaced by a hand-built good result."""
    root = tmp_path / "w"
    shutil.copytree(sims, root)
    monkeypatch.setattr(xpcsfit, "fit", _good)
    capsys.readouterr()
    return root


def _run(capsys, argv, code):
    """Run the command; assert its exit code, and return its stderr, asserted one line."""
    try:
        got = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        got = exc.code
    err = capsys.readouterr().err
    assert got == code, err
    assert "Traceback" not in err and err.count("\n") == 1 and err.endswith("\n"), err
    return err.rstrip("\n")


def _edited(world, text_old, text_new, name="edited.yaml"):
    text = (world / "phi3" / CONFIG).read_text()
    assert text_old in text
    path = world / "phi3" / name
    path.write_text(text.replace(text_old, text_new))
    return path


def _fit(world, config=None, *extra):
    return ["fit", "--config", config or world / "phi3" / CONFIG, "--output-dir",
            world / "res", "--no-plots", *extra]


# ------------------------------------------------------------------ user errors: exit 2

def _config_case(world, kind):
    folder = world / "phi3"
    if kind == "alias bomb":
        (folder / "bomb.yaml").write_text(ALIAS_BOMB)
        return folder / "bomb.yaml", "aliases (*a) are not supported"
    if kind == "self alias":
        (folder / "self.yaml").write_text("analysis_mode: &m [*m]\n")
        return folder / "self.yaml", "aliases (*m)"
    if kind == "python tag":
        (folder / "tag.yaml").write_text(f"x: !!python/object/apply:os.remove ['{folder / CONFIG}']\n")
        return folder / "tag.yaml", "invalid YAML at line 1"
    if kind == "number key":
        return _edited(world, "physics:\n", "2: x\nphysics:\n"), "key 2 is not a string"
    if kind == "not utf-8":
        return folder / "simulated_xpcs.h5", "not UTF-8 text"
    if kind == "missing":
        return folder / "none.yaml", "config: file not found"
    if kind == "folder":
        return folder, "is a folder, not a file"
    if kind == "cache escapes":
        return _edited(world, "# cache_file_path: ./cache ",
                       "cache_file_path: ./cache\n  cache_filename_template: ../../{stem}.npz\n"
                       "  #"), "experimental_data.cache_filename_template: '../../{stem}.npz'"
    if kind == "cache attribute":
        return _edited(world, "# cache_file_path: ./cache ",
                       "cache_file_path: ./cache\n  cache_filename_template: "
                       "'{stem.__class__}'\n  #"), "only plain fields"
    raise AssertionError(kind)


CONFIG_CASES = ["alias bomb", "self alias", "python tag", "number key", "not utf-8", "missing",
                "folder", "cache escapes", "cache attribute"]


@pytest.mark.parametrize("kind", CONFIG_CASES)
def test_bad_configs(world, capsys, kind):
    config, expected = _config_case(world, kind)
    before = snapshot(world)
    start = time.perf_counter()
    line = _run(capsys, _fit(world, config), 2)
    assert time.perf_counter() - start < 1.0  # the alias bomb too
    assert line.startswith("xpcsfit: error: ") and expected in line, line
    assert snapshot(world) == before


def test_laminar_parameter_in_a_static_config(world, capsys, monkeypatch):
    text = (world / "phi3" / CONFIG).read_text()
    values = text.split("values: [", 1)[1].split("]", 1)[0]
    config = _edited(world, f"values: [{values}]", f"values: [{values}, 0.01]")
    config.write_text(config.read_text().replace('"D_offset"]', '"D_offset", "gamma_dot_0"]'))
    monkeypatch.setattr(xpcsfit, "fit", REAL_FIT)  # the fit itself checks the names
    before = snapshot(world)
    line = _run(capsys, _fit(world, config), 2)
    assert "gamma_dot_0" in line and "not a parameter of static_isotropic" in line, line
    assert "tuple.index" not in line and snapshot(world) == before


def _damage(path, kind):
    import h5py

    if kind == "empty file":
        path.write_bytes(b"")
        return str(path)
    if kind == "corrupt header":
        with h5py.File(path, "r") as f:
            addr = h5py.h5o.get_info(f["xpcs/qmap/dynamic_v_list_dim1"].id).addr
        with path.open("r+b") as f:
            f.seek(addr)
            f.write(b"\xff" * 16)
        return "xpcs/qmap/dynamic_v_list_dim1: cannot be read from"
    with h5py.File(path, "a") as f:
        if kind == "maps a dataset":
            del f["xpcs/twotime/correlation_map"]
            f["xpcs/twotime/correlation_map"] = [1.0]
            return "xpcs/twotime/correlation_map: expected an HDF5 group"
        if kind == "q a group":
            del f["xpcs/qmap/dynamic_v_list_dim0"]
            f.create_group("xpcs/qmap/dynamic_v_list_dim0")
            return "xpcs/qmap/dynamic_v_list_dim0: expected an HDF5 dataset"
        if kind == "c2 complex":
            name = sorted(f["xpcs/twotime/correlation_map"])[0]
            del f[f"xpcs/twotime/correlation_map/{name}"]
            f[f"xpcs/twotime/correlation_map/{name}"] = [[1j] * 10] * 10
            return f"/xpcs/twotime/correlation_map/{name}: complex values"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["empty file", "corrupt header", "maps a dataset",
                                  "q a group", "c2 complex"])
def test_bad_data_files(world, capsys, kind):
    data = world / "phi3" / "damaged.h5"
    shutil.copy(world / "phi3" / "simulated_xpcs.h5", data)
    expected = _damage(data, kind)
    before = snapshot(world)
    line = _run(capsys, [*_fit(world), "--data", data], 2)
    assert expected in line and str(data) in line, line
    assert snapshot(world) == before


def test_missing_data_names_the_option(world, capsys):
    before = snapshot(world)
    line = _run(capsys, [*_fit(world), "--data", world / "nope.h5"], 2)
    assert line == f"xpcsfit: error: --data: file not found: {world / 'nope.h5'}"
    assert snapshot(world) == before


def _output_case(world, kind):
    if kind == "a file":
        (world / "taken").write_text("keep")
        return world / "taken", "exists and is not a folder"
    if kind == "under a file":
        (world / "taken").write_text("keep")
        return world / "taken" / "res", "cannot create"
    if kind == "name too long":
        return world / ("r" * 300), "File name too long"
    if kind == "not writable":
        if not os.path.isdir("/proc/self"):
            pytest.skip("needs /proc")
        return Path("/proc/self"), "cannot write into /proc/self"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["a file", "under a file", "name too long", "not writable"])
def test_output_folder_checked_before_loading(world, capsys, monkeypatch, kind):
    out, expected = _output_case(world, kind)

    def no_loading(*args, **kwargs):
        raise AssertionError("data loaded before the output folder was checked")

    monkeypatch.setattr(dataset, "load_dataset", no_loading)
    before = snapshot(world)
    line = _run(capsys, ["fit", "--config", world / "phi3" / CONFIG, "--output-dir", out], 2)
    assert line.startswith("xpcsfit: error: --output-dir: ") and expected in line, line
    assert snapshot(world) == before


@pytest.mark.parametrize("argv, expected", [
    (["fit", "--config", "c.yaml", "--multistart", "many"], "invalid int value: 'many'"),
    (["fit", "--config", "c.yaml", "--multistart", "0"], "--multistart: must be >= 1"),
    (["fit"], "the following arguments are required: --config"),
    (["fit", "--config", "c.yaml", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["simulate", "--n-t", "1"], "--n-t/--n-phi: need n_t >= 2"),
    (["config", "--output", "/nonexistent-dir/x/c.yaml"], "--output: cannot write"),
])
def test_bad_options(world, capsys, argv, expected):
    if argv[:2] == ["fit", "--config"]:
        argv = ["fit", "--config", world / "phi3" / CONFIG, *argv[3:]]
    before = snapshot(world)
    line = _run(capsys, argv, 2)
    assert line.startswith("xpcsfit: error: ") and expected in line, line
    assert snapshot(world) == before


def test_simulate_and_config_refuse_bad_targets(world, capsys):
    (world / "taken").write_text("keep")
    line = _run(capsys, ["simulate", "--output-dir", world / "taken"], 2)
    assert line == f"xpcsfit: error: --output-dir: {world / 'taken'} exists and is not a folder"
    line = _run(capsys, ["config", "--output", world / "phi3", "--force"], 2)
    assert line == f"xpcsfit: error: --output: {world / 'phi3'} is a folder"
    assert (world / "taken").read_text() == "keep"


# ------------------------------------------------------------------ exit codes 0, 1, 3

def test_help_lists_the_exit_codes(capsys):
    for argv in (["--help"], ["fit", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        assert EXIT_CODES.strip() in out
    for code in ("0", "1", "2", "3", "130"):
        assert f"\n  {code} " in EXIT_CODES


def test_result_not_good_exits_3(world, capsys, monkeypatch):
    monkeypatch.setattr(xpcsfit, "fit", lambda data, config, **kw: fake_result(data, "poor"))
    line = _run(capsys, _fit(world), 3)
    assert line == "xpcsfit: result not good: quality = poor, status = failed (exit code 3)"
    assert complete_run(world / "res")["quality_flag"] == "poor"  # the results are written
    assert not list((world / "res").glob("*.png"))  # with the earlier run's figures gone


def test_internal_error_exits_1(world, capsys, monkeypatch):
    def broken(data, config, **kw):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(xpcsfit, "fit", broken)
    before = snapshot(world)
    line = _run(capsys, _fit(world), 1)
    assert line.startswith("xpcsfit: internal error: ZeroDivisionError: a bug (please report")
    assert snapshot(world) == before
    monkeypatch.setenv("XPCSFIT_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        main([str(a) for a in _fit(world)])


def test_truncated_cache_is_read_again(world, capsys):
    config = _edited(world, "# cache_file_path: ./cache ", "cache_file_path: ./cache #")
    assert main([str(a) for a in _fit(world, config)]) == 0
    (cache,) = (world / "phi3" / "cache").iterdir()
    cache.write_bytes(cache.read_bytes()[:100])
    capsys.readouterr()
    assert main([str(a) for a in _fit(world, config)]) == 0
    assert capsys.readouterr().err == ""  # an unreadable cache is logged, then replaced
    assert len(cache.read_bytes()) > 100


# ------------------------------------------------------------------ Ctrl-C: exit 130

def _interrupting_fit(swallow):
    def fit(data, config, **kw):
        try:
            sigint_self()
            time.sleep(1.0)  # the KeyboardInterrupt arrives here
        except KeyboardInterrupt:
            if not swallow:
                raise
        return fake_result(data, tag=1.0)
    return fit


def _at_load(*args, **kwargs):
    sigint_self()
    return real_read_hdf5(*args, **kwargs)


REAL_SAVEZ, REAL_REPLACE = results.np.savez, os.replace


def _mid_npz(path, **arrays):
    REAL_SAVEZ(path, **arrays)
    Path(path).write_bytes(Path(path).read_bytes()[:200])
    sigint_self()


def _in_commit(src, dst):
    REAL_REPLACE(src, dst)
    if Path(dst).name == "fit_report.json":
        sigint_self()  # held back until every file is in place


@pytest.mark.parametrize("point", ["loading", "fitting", "swallowed in fit", "mid npz",
                                   "in commit", "drawing"])
def test_ctrl_c(world, capsys, monkeypatch, point):
    before = snapshot(world / "res")
    plots = point == "drawing"
    monkeypatch.setattr(xpcsfit, "fit", _interrupting_fit(point == "swallowed in fit")
                        if "fit" in point else lambda data, config, **kw: fake_result(data, tag=1.0))
    if point == "loading":
        monkeypatch.setattr(dataset, "read_hdf5", _at_load)
    elif point == "mid npz":
        monkeypatch.setattr(results.np, "savez", _mid_npz)
    elif point == "in commit":
        monkeypatch.setattr(atomic.os, "replace", _in_commit)
    elif point == "drawing":
        pytest.importorskip("matplotlib")
        from xpcsfit.io import plots

        real = plots._cuts
        monkeypatch.setattr(plots, "_cuts", lambda *a: (sigint_self(), real(*a))[1])
    argv = [*_fit(world, world / "phi2" / CONFIG)]
    if plots:
        argv.remove("--no-plots")
    assert _run(capsys, argv, 130) == "xpcsfit: interrupted"
    res = world / "res"
    no_partial_files(res)
    if point in ("in commit", "drawing"):  # the new run's results are all in place
        p = complete_run(res)
        assert p["parameters"]["D0"]["value"] == 2001.0 and p["names"][0] == "contrast[0]"
        assert not list(res.glob("*.png"))  # old figures removed, new ones never appeared
    else:
        assert snapshot(res) == before  # the earlier run, untouched


@pytest.mark.parametrize("swallow", [False, True])
def test_ctrl_c_from_outside_exits_130(world, tmp_path, swallow):
    """A child process gets a real Ctrl-C from this one while it loads the data. With
    `swallow`, the loader swallows the first one (as a library might): the second ends
    the process at once."""
    script = textwrap.dedent(f"""
        import sys, time
        from xpcsfit import cli
        from xpcsfit.io import dataset
        def slow(*args, **kwargs):
            for i in range(600):  # short sleeps: the signal may reach another thread
                try:              # first, and Python handles it between them
                    if i == 0:    # announced inside the try: the Ctrl-C sent on this
                        print("loading", flush=True)  # line lands in it
                    time.sleep(0.1)
                except KeyboardInterrupt:
                    if not {swallow}:
                        raise
                    print("swallowed", flush=True)
        dataset.load_dataset = slow
        sys.exit(cli.main(["fit", "--config", {str(world / "phi3" / CONFIG)!r},
                           "--output-dir", {str(tmp_path / "new")!r}]))
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=os.environ | {"JAX_PLATFORMS": "cpu"})
    assert child.stdout.readline() == "loading\n"
    child.send_signal(signal.SIGINT)
    if swallow:
        assert child.stdout.readline() == "swallowed\n"
        child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130 and err == "xpcsfit: interrupted\n", err
    if not swallow:
        assert not (tmp_path / "new").exists()  # the folder it created, empty, is removed
