"""Suite `distributed`: one fit as a job of 1, 2 and 4 processes on this machine (issue 20).

Each process is `benchmarks/distributed_worker.py` (coordinator on 127.0.0.1, gloo): it
reads only its t1 rows of a memory-mapped c2 file, fits, fits again (warm), and reports
its peak RSS. Rows: processes, points, rows per process, wall time of the job (process
start-up, joining, compiling and both fits), cold and warm fit time, passes (nfev), peak
RSS per process (max over processes), the data share per process, and the largest
parameter difference from the 1-process job (relative). σ is given except in the row
"estimated" (from the data: its trimmed means gather the squared differences). The last
two rows measure memory on 4× more frames with a few passes (`MEMORY_CONFIG`).

On a 2-core machine 2 processes share the cores that one process would use, and 4
oversubscribe them: the speed-up is limited, and reported as measured.

    python -m benchmarks distributed [--quick]

`--quick` does not launch processes (each pays a fresh JAX start and compile, more than
the quick budget): it prints the table header with one row saying so.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import print_table, write_results

WORKER = str(Path(__file__).with_name("distributed_worker.py"))
TRUTH = [3.0e3, 0.6, 20.0, 2.0e-4, 0.4, 1.0e-5, 3.0]
CONFIG = {"analysis_mode": "laminar_flow"}
N_PHI, N_T = 23, 640
COLUMNS = [("processes", "processes", "d"), ("points", "points", ","),
           ("rows", "t1 rows each", "d"), ("sigma", "σ", "s"), ("wall_s", "job wall s", ".1f"),
           ("cold_s", "cold fit s", ".2f"), ("warm_s", "warm fit s", ".2f"),
           ("nfev", "passes", "d"), ("rss_gb", "peak RSS per process GB", ".2f"),
           ("rss_growth_gb", "peak RSS − RSS before loading GB", ".2f"),
           ("share_gb", "c2 share GB", ".3f"), ("max_rel_diff", "max rel. diff vs 1", ".1e")]


MEMORY_N_T = 1600
MEMORY_CONFIG = {"analysis_mode": "laminar_flow", "optimization": {"nlsq": {
    "max_nfev": 3, "screening": {"enable": False}}}}
"""The memory rows: 23 φ × 1600 frames (58.8M points, 0.47 GB per copy of c2) and a few
passes only (the peak is reached in the first): there the data, not the compiler and
runtime (≈ 1 GB per process), dominate a process's memory."""


def _write_case(folder: Path, sigma: float | None, n_t: int = N_T) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    from xpcsfit.physics.simulate import simulate

    phi = np.linspace(-170.0, 170.0, N_PHI)
    data, _ = simulate(TRUTH, 0.3 * np.ones(N_PHI), np.ones(N_PHI), n_t=n_t, dt=0.1, phi=phi,
                       q=0.005, L=2e6, noise=0.01, seed=1)
    np.save(folder / "g2.npy", np.asarray(data.g2))
    meta = {"t": np.asarray(data.t).tolist(), "phi": np.asarray(data.phi).tolist(),
            "q": 0.005, "L": 2e6, "sigma": sigma}
    (folder / "meta.json").write_text(json.dumps(meta))
    return int(data.n_points)


def _job(folder: Path, n: int, points: int, label: str, config: dict = CONFIG,
         warm: bool = True) -> dict:
    from xpcsfit.distributed.local import launch_local

    out = folder / f"out_{n}_{label}"
    out.mkdir()
    start = time.perf_counter()
    outs = launch_local([sys.executable, WORKER, str(folder), str(out), json.dumps(config),
                         *(["--warm"] if warm else [])], n, deadline=1800, timeout=300)
    wall = time.perf_counter() - start
    bad = [(i, o.returncode, o.stderr[-400:]) for i, o in enumerate(outs) if o.returncode]
    if bad:
        raise RuntimeError(f"{n}-process job failed: {bad}")
    reports = [json.loads((out / f"process_{i}.json").read_text()) for i in range(n)]
    return {"processes": n, "points": points, "rows": reports[0]["rows"][1]
            - reports[0]["rows"][0], "sigma": label, "wall_s": wall,
            "cold_s": max(r["cold_s"] for r in reports),
            "warm_s": max(r["warm_s"] or 0.0 for r in reports) if warm else None,
            "nfev": reports[0]["nfev"],
            "rss_gb": max(r["rss_peak_gb"] for r in reports),
            "rss_growth_gb": max(r["rss_peak_gb"] - r["rss_start_gb"] for r in reports),
            "share_gb": reports[0]["share_bytes"] / 1024**3,
            "parameters": reports[0]["parameters"], "chi_squared": reports[0]["chi_squared"],
            "quality": reports[0]["quality"], "per_process": reports}


def run(quick: bool = False) -> None:
    """1-, 2- and 4-process jobs on 23 φ × 640 frames (9.4M points); quick: none."""
    if quick:
        rows = [{"processes": 0, "points": 0, "rows": 0, "sigma": "skipped in --quick: run "
                 "`python -m benchmarks distributed`"}]
        write_results("distributed", rows, print_table(rows, COLUMNS))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="xpcsfit-bench-dist-") as tmp:
        folder = Path(tmp)
        points = _write_case(folder, 0.01)
        for n in (1, 2, 4):
            rows.append(_job(folder, n, points, "given"))
        meta = json.loads((folder / "meta.json").read_text())
        (folder / "meta.json").write_text(json.dumps({**meta, "sigma": None}))
        rows.append(_job(folder, 2, points, "estimated"))
        big = folder / "memory"
        big.mkdir()
        points = _write_case(big, 0.01, MEMORY_N_T)
        label = f"given, ≤ {MEMORY_CONFIG['optimization']['nlsq']['max_nfev']} passes"
        for n in (1, 2):
            rows.append(_job(big, n, points, label, MEMORY_CONFIG, warm=False))
    ref = np.asarray(rows[0]["parameters"])
    for row in rows[:3]:
        row["max_rel_diff"] = float(np.max(np.abs(np.asarray(row["parameters"]) - ref)
                                           / np.abs(ref)))
    write_results("distributed", rows, print_table(rows, COLUMNS))


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
