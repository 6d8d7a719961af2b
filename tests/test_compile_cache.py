"""The persistent compilation cache (issue 19): a second identical CLI process compiles
nothing new; the folder comes from the flag, the environment or the default; off works."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xpcsfit.compile_cache import default_cache_dir, enable_compile_cache, resolve_cache_dir

HIT = "Persistent compilation cache hit"
MISS = "PERSISTENT COMPILATION CACHE MISS"


def _cli(args, env, cwd):
    return subprocess.run([sys.executable, "-m", "xpcsfit", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_second_cli_run_compiles_nothing_new(tmp_path):
    pytest.importorskip("h5py")
    pytest.importorskip("yaml")
    cache = tmp_path / "cache"
    env = {**os.environ, "XPCSFIT_COMPILE_CACHE": str(cache), "JAX_LOGGING_LEVEL": "DEBUG",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    sim = _cli(["simulate", "--output-dir", "sim", "--mode", "static_isotropic", "--n-phi",
                "2", "--n-t", "16"], env, tmp_path)
    assert sim.returncode == 0, sim.stderr[-2000:]
    fit = ["fit", "--config", "sim/config.yaml", "--no-plots"]
    first = _cli([*fit, "--output-dir", "r1"], env, tmp_path)
    assert first.returncode in (0, 3), first.stderr[-2000:]
    written = _entries(cache)
    assert first.stderr.count(MISS) > 0 and any("jit__compiled" in n for n in written)
    second = _cli([*fit, "--output-dir", "r2"], env, tmp_path)
    assert second.returncode == first.returncode, second.stderr[-2000:]
    assert second.stderr.count(MISS) == 0, [ln for ln in second.stderr.splitlines()
                                            if MISS in ln][:5]
    assert second.stderr.count(HIT) >= 1 and "'jit__compiled'" in second.stderr
    assert _entries(cache) == written  # nothing new written
    assert (tmp_path / "r1" / "parameters.json").read_text().split('"n_points"')[0] == \
        (tmp_path / "r2" / "parameters.json").read_text().split('"n_points"')[0]


def test_cache_folder_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("XPCSFIT_COMPILE_CACHE", str(tmp_path / "env"))
    assert resolve_cache_dir() == tmp_path / "env"
    assert resolve_cache_dir(tmp_path / "flag") == tmp_path / "flag"  # the flag wins
    for off in ("off", "OFF", "none", "0", "false", "no"):
        assert resolve_cache_dir(off) is None
    monkeypatch.setenv("XPCSFIT_COMPILE_CACHE", "Off")
    assert resolve_cache_dir() is None
    monkeypatch.delenv("XPCSFIT_COMPILE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache_dir() == default_cache_dir() == tmp_path / "xdg" / "xpcsfit" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "xpcsfit" / "jax"
    with pytest.raises(ValueError, match=r"--compile-cache: empty cache folder"):
        resolve_cache_dir("  ", field="--compile-cache")


def test_cache_folder_that_cannot_be_made(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match=r"--compile-cache: cannot create the compilation "
                                         r"cache folder"):
        enable_compile_cache(blocker / "sub", field="--compile-cache")
    assert enable_compile_cache("off") is None


def test_cli_bad_cache_folder_is_a_user_error(tmp_path, capsys):
    pytest.importorskip("h5py")
    from xpcsfit.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    sim = tmp_path / "sim"
    assert main(["simulate", "--output-dir", str(sim), "--mode", "static_isotropic",
                 "--n-phi", "2", "--n-t", "12"]) == 0
    code = main(["fit", "--config", str(sim / "config.yaml"), "--output-dir",
                 str(tmp_path / "r"), "--compile-cache", str(blocker / "c")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("xpcsfit: error: --compile-cache: "), err
    assert not (tmp_path / "r").exists()  # checked before the output folder is made
