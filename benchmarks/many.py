"""Suite `many`: a fast second start (persistent compilation cache) and many q-bins in one
process (issue 19).

Full (real processes, `python -m xpcsfit fit`, wall time of each process and the fit
phase it prints, `time: … s`):
- cache: the demo-size file (laminar flow, 23 φ × 200 frames = 0.92M points), a first
  process (empty cache folder) and a second one (the cache the first wrote);
- q-bins: a 10-q file (laminar, 8 φ × 60 frames each): `--q all` in one process, against
  10 processes of `--q <q_k>`, without and with the cache.

Quick (< 10 s, one process): the same questions on 2 φ × 20 frames static_isotropic data
with 3 q-bins, a "new process" emulated by `jax.clear_caches()` (in-memory executables
dropped): the first fit (compiles, writes the cache), the other two q-bins in the same
process (no compile), the first again after clearing (reloaded from the persistent cache);
"3 processes" is 3 × the first fit (each process compiling).

    python -m benchmarks many [--quick]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import compile_cache, print_table, timed, write_results

COLUMNS = [("case", "case", "s"), ("points", "points per q", ","), ("n_q", "q-bins", "d"),
           ("processes", "processes", "d"), ("cache", "cache", "s"),
           ("wall_s", "wall s", ".2f"), ("fit_s", "fit phase s", ".2f"),
           ("per_q_s", "s per q", ".2f")]
_TIME = re.compile(r"^time: ([0-9.]+) s$", re.M)
_BIN = re.compile(r"^q = [0-9.e-]+: .*, ([0-9.]+) s → ", re.M)


def _cli(args: list[str], cwd: Path, cache: str) -> tuple[float, str]:
    env = {**os.environ, "XPCSFIT_COMPILE_CACHE": cache,
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "xpcsfit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise RuntimeError(f"xpcsfit {' '.join(args)}: exit {done.returncode}: "
                           f"{done.stderr.strip().splitlines()[-1:]}")
    return wall, done.stdout


def _fit_phase(stdout: str) -> float:
    times = [float(t) for t in _TIME.findall(stdout)] or \
        [float(t) for t in _BIN.findall(stdout)]
    return sum(times)


def _full(work: Path) -> list[dict]:
    rows = []
    _cli(["simulate", "--output-dir", "demo"], work, "off")
    points = 23 * 200 * 199
    cache = str(work / "cache")
    for label in ("first process", "second process"):
        wall, out = _cli(["fit", "--config", "demo/config.yaml", "--output-dir",
                          f"r_{label[:5]}", "--no-plots"], work, cache)
        rows.append({"case": f"cache: {label}", "points": points, "n_q": 1, "processes": 1,
                     "cache": "on", "wall_s": wall, "fit_s": _fit_phase(out),
                     "per_q_s": wall})
    _cli(["simulate", "--output-dir", "ten", "--n-phi", "8", "--n-t", "60", "--n-q", "10"],
         work, "off")
    from xpcsfit.io.hdf5 import file_q_values

    qs = file_q_values(work / "ten" / "simulated_xpcs.h5").tolist()
    points = 8 * 60 * 59
    wall, out = _cli(["fit", "--config", "ten/config.yaml", "--output-dir", "r_all", "--q",
                      "all", "--no-plots"], work, "off")
    rows.append({"case": "10 q-bins: one process (--q all)", "points": points, "n_q": 10,
                 "processes": 1, "cache": "off", "wall_s": wall, "fit_s": _fit_phase(out),
                 "per_q_s": wall / 10})
    for cache_mode, folder in (("off", "off"), ("on", str(work / "cache10"))):
        total, fit_s = 0.0, 0.0
        for k, q in enumerate(qs):
            wall, out = _cli(["fit", "--config", "ten/config.yaml", "--output-dir",
                              f"r_{cache_mode}_{k}", "--q", f"{q:.10g}", "--no-plots"], work,
                             folder)
            total, fit_s = total + wall, fit_s + _fit_phase(out)
        rows.append({"case": "10 q-bins: 10 processes", "points": points, "n_q": 10,
                     "processes": 10, "cache": cache_mode, "wall_s": total, "fit_s": fit_s,
                     "per_q_s": total / 10})
    return rows


def _quick(work: Path) -> list[dict]:
    import jax

    import xpcsfit
    from xpcsfit.demo import demo_problem
    from xpcsfit.io import load_config
    from xpcsfit.io.many import load_datasets
    from xpcsfit.io.simulated import simulate_files

    paths = simulate_files(work / "sim", **demo_problem("static_isotropic", 2, 20), n_q=3)
    bins = [d for d, _ in load_datasets(load_config(paths["config"]), "all")]
    cfg = {"analysis_mode": "static_isotropic"}
    points = bins[0].n_points
    rows = []
    with compile_cache(work / "cache"):
        jax.clear_caches()
        _, cold = timed(lambda: xpcsfit.fit_many(bins[:1], cfg))  # compiles, writes the cache
        _, rest = timed(lambda: xpcsfit.fit_many(bins[1:], cfg))  # same shapes: no compile
        jax.clear_caches()  # a new process: no executable in memory
        _, cached = timed(lambda: xpcsfit.fit_many(bins[:1], cfg))
    loop = cold + rest
    rows += [{"case": "cache: first process (emulated)", "points": points, "n_q": 1,
              "processes": 1, "cache": "on", "wall_s": cold, "fit_s": cold, "per_q_s": cold},
             {"case": "cache: second process (emulated)", "points": points, "n_q": 1,
              "processes": 1, "cache": "on", "wall_s": cached, "fit_s": cached,
              "per_q_s": cached},
             {"case": "3 q-bins: one process (fit_many)", "points": points, "n_q": 3,
              "processes": 1, "cache": "on", "wall_s": loop, "fit_s": loop,
              "per_q_s": loop / 3},
             {"case": "3 q-bins: 3 processes (3 × cold, estimated)", "points": points,
              "n_q": 3, "processes": 3, "cache": "off", "wall_s": 3 * cold, "fit_s": 3 * cold,
              "per_q_s": cold}]
    return rows


def run(quick: bool = False) -> None:
    """Cache and q-bin timings (quick: one process, emulated)."""
    with tempfile.TemporaryDirectory(prefix="xpcsfit-bench-many-") as tmp:
        rows = _quick(Path(tmp)) if quick else _full(Path(tmp))
    write_results("many", rows, print_table(rows, COLUMNS))


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
