"""HYBRID_STREAMING on memory-mapped data: 23 angles, 10M and 100M points.

The c2 data are generated angle by angle into a memory-mapped .npy file (never whole in
memory), wrapped with `XPCSData.from_host` and fitted with the strategy forced to
hybrid_streaming (default phase settings, and the smallest size once more with the opt-in
L-BFGS warmup). Each size runs in its own process, so peak
RSS is that case's alone. Reports wall time, the phases' iterations and passes, the time
of one streamed pass with and without derivatives, χ²_red, the largest |fit − truth|/σ of
the physical parameters, peak RSS and the data size. The data are exactly symmetric, so
the fit streams only the pairs t1 < t2 (`pairs` "upper"; `points` counts both triangles'
off-diagonal values, `fitted_points` the independent ones).

    python -m benchmarks.streaming [--points 10e6 100e6] [--quick]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from benchmarks.common import print_table, write_results
from benchmarks.isolate import isolated
from benchmarks.problems import LAMINAR, NAMES, angles, config_for, contrast_offset


def write_memmap(points: float, folder: str):
    """c2 of a 23-angle laminar case with ≈ `points` off-diagonal points, one angle at a
    time into a .npy memory map; returns (path, t, phi)."""
    import numpy as np

    import xpcsfit

    n_phi = 23
    n_t = int(round(0.5 + math.sqrt(points / n_phi)))
    phi = angles(n_phi)
    contrast, offset = contrast_offset(phi)
    t = np.arange(n_t) * (20.0 / n_t)
    path = Path(folder) / f"c2_{n_t}.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n_phi, n_t, n_t))
    rng = np.random.default_rng(0)
    for a in range(n_phi):  # one angle in memory at a time
        clean = xpcsfit.g2_model(LAMINAR, contrast[a], offset[a], t, phi[a : a + 1],
                                 q=0.005, L=2e6)[0]
        noise = np.triu(rng.normal(0.0, 0.01, (n_t, n_t)), 1)
        mm[a] = np.asarray(clean) + noise + noise.T
    mm.flush()
    del mm
    return path, t, phi


def one_case(spec: dict) -> dict:
    """Generate, fit and measure one size (runs in its own process)."""
    import numpy as np

    import xpcsfit
    from benchmarks.common import peak_rss_gb
    from xpcsfit.fitting.objectives import HostData, StreamPass

    t0 = time.perf_counter()
    path, t, phi = write_memmap(spec["points"], spec["folder"])
    generate_s = time.perf_counter() - t0
    data = xpcsfit.XPCSData.from_host(np.load(path, mmap_mode="r"), t, phi, q=0.005, L=2e6,
                                      sigma=0.01)
    cfg = config_for({"mode": "laminar_flow"})
    cfg["optimization"]["nlsq"]["strategy"] = "hybrid_streaming"
    cfg["optimization"]["nlsq"]["hybrid_streaming"] = {"enable_warmup": spec["warmup"]}
    t0 = time.perf_counter()
    result = xpcsfit.fit(data, cfg)
    seconds = time.perf_counter() - t0
    info = result.device_info["streaming"]
    warm = info.get("warmup", {"iterations": 0, "loss_evaluations": 0, "reason": "off",
                                "seconds": 0.0})
    # One streamed pass of each kind at the solution, over the fit's pairs (t1 < t2 for
    # these exactly symmetric data; compiled by the fit already).
    pairs = result.device_info["fitted_pairs"]
    passes = StreamPass(HostData.from_arrays(data.g2, 0.01, t, phi, 0.005, 2e6),
                        "laminar_flow", "paper", pairs=pairs)
    x = np.asarray(result.parameters)
    t0 = time.perf_counter()
    passes.sums(x)
    sums_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    passes.cost(x)
    cost_s = time.perf_counter() - t0
    phys = np.arange(2 * data.n_phi, result.parameters.shape[0])
    err = np.abs(result.parameters[phys] - LAMINAR) / result.uncertainties[phys]
    return {"points": data.n_points, "data_gb": path.stat().st_size / 1024**3,
            "generate_s": generate_s, "seconds": seconds,
            "variant": "L-BFGS warmup + trust region" if spec["warmup"] else "trust region",
            "warmup": spec["warmup"], "warmup_its": warm["iterations"],
            "warmup_loss_evals": warm["loss_evaluations"], "warmup_reason": warm["reason"],
            "warmup_s": warm["seconds"],
            "gn_nfev": info["gauss_newton"]["nfev"], "gn_s": seconds - warm["seconds"],
            "sums_pass_s": sums_s, "cost_pass_s": cost_s, "chunks": info["n_chunks"],
            "pairs": pairs, "fitted_points": result.n_points,
            "chi2_red": result.reduced_chi_squared, "quality": result.quality_flag,
            "max_err_sigma": float(np.max(err)), "worst": NAMES[int(np.argmax(err))],
            "peak_rss_gb": peak_rss_gb(),
            "rss_minus_data_gb": peak_rss_gb() - path.stat().st_size / 1024**3}


COLUMNS = [("points", "points", ","), ("data_gb", "data GiB", ".2f"), ("pairs", "pairs", "s"),
           ("chunks", "chunks", "d"),
           ("warmup_reason", "warmup", "s"), ("seconds", "wall s", ".1f"),
           ("warmup_its", "warmup its", "d"),
           ("warmup_loss_evals", "warmup loss evals", "d"), ("warmup_s", "warmup s", ".1f"),
           ("gn_nfev", "GN passes", "d"), ("gn_s", "after warmup s", ".1f"),
           ("sums_pass_s", "pass s (J)", ".2f"), ("cost_pass_s", "pass s (cost)", ".2f"),
           ("chi2_red", "χ²_red", ".4f"), ("max_err_sigma", "max |Δ|/σ", ".2f"),
           ("quality", "quality", "s"), ("peak_rss_gb", "peak RSS GiB", ".2f")]


def run(quick: bool = False, points: list[float] | None = None) -> None:
    """Fit each size in its own process (default settings: no warmup; the smallest size
    also with the opt-in L-BFGS warmup; quick: 0.1M points, no warmup row); print the
    table, write results/streaming.json."""
    sizes = points or ([1e5] if quick else [10e6, 100e6])
    cases = ([] if quick else [(sizes[0], True)]) + [(p, False) for p in sizes]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for p, warmup in cases:
            rows.append(isolated("benchmarks.streaming:one_case",
                                 {"points": p, "folder": folder, "warmup": warmup}))
            print(f"done: {p:.3g} points, warmup {warmup}", flush=True)
            for path in Path(folder).glob("*.npy"):
                path.unlink()
    write_results("streaming", rows, print_table(rows, COLUMNS))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=float, nargs="+")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:  # as `python -m benchmarks --quick`: never overwrite the full results
        import os

        from benchmarks.common import RESULTS, RESULTS_ENV

        os.environ.setdefault(RESULTS_ENV, str(RESULTS / "quick"))
    run(args.quick, args.points)
