"""Fit time and memory vs data size: laminar flow, 23 angles, n_t = 200, 500, 1000.

0.92M, 5.75M and 23M fitted points (53 parameters, per-angle "individual") over the same
20 s window (dt = 20/n_t), each size in its own process so peak RSS is per case. Reports wall time (cold and warm), passes,
time per pass, points/s, peak RSS and the strategy chosen.

    python -m benchmarks.scaling [--sizes 200 500 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from benchmarks.common import environment, print_table, write_json


def one_case(n_t: int) -> dict:
    import numpy as np

    import xpcsfit
    from benchmarks.common import peak_rss_gb, timed
    from benchmarks.fit_vs_scipy import LAMINAR, config_for

    phi = np.linspace(-170.0, 170.0, 23)
    contrast = 0.3 + 0.1 * np.cos(np.deg2rad(phi)) ** 2
    offset = 1.0 + 0.01 * np.sin(np.deg2rad(phi))

    def data(seed):
        # Same 20 s window at every size (dt = 20/n_t): the decorrelation, and so the
        # difficulty of the problem, stay fixed while the number of points grows.
        return xpcsfit.simulate(LAMINAR, contrast, offset, n_t=n_t, dt=20.0 / n_t, phi=phi, q=0.005,
                                L=2e6, noise=0.01, seed=seed)[0]

    cfg = config_for({"mode": "laminar_flow"})
    d0 = data(0)
    data_rss = peak_rss_gb()
    cold, cold_s = timed(lambda: xpcsfit.fit(d0, cfg))
    d0 = None  # free the first dataset before generating the second
    d1 = data(1)
    warm, warm_s = timed(lambda: xpcsfit.fit(d1, cfg))
    return {"n_t": n_t, "points": d1.n_points, "strategy": warm.device_info["strategy"],
            "n_chunks": warm.device_info["n_chunks"], "cold_s": cold_s, "warm_s": warm_s,
            "passes": warm.nfev + 1, "s_per_pass": warm_s / (warm.nfev + 1),
            "points_per_s": d1.n_points / warm_s, "chi2_red": warm.reduced_chi_squared,
            "quality": warm.quality_flag, "data_rss_gb": data_rss, "peak_rss_gb": peak_rss_gb()}


def run(sizes):
    rows = []
    for n_t in sizes:
        out = subprocess.run([sys.executable, "-m", "benchmarks.scaling", "--one", str(n_t)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"done: n_t = {n_t}", flush=True)
    columns = [("points", "points", ","), ("strategy", "strategy", "s"), ("n_chunks", "chunks", "d"),
               ("cold_s", "cold s", ".2f"), ("warm_s", "warm s", ".2f"), ("passes", "passes", "d"),
               ("s_per_pass", "s/pass", ".3f"), ("points_per_s", "points/s", ".3g"),
               ("chi2_red", "χ²_red", ".4f"), ("data_rss_gb", "RSS after data GiB", ".2f"),
               ("peak_rss_gb", "peak RSS GiB", ".2f")]
    table = print_table(rows, columns)
    print(f"wrote {write_json('scaling', {'environment': environment(), 'cases': rows, 'table': table})}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_case(args.one)))
    else:
        run(args.sizes)
