"""Suite `batch`: `jax.vmap` of a fit over datasets vs a Python loop of one jitted fit.

static_isotropic, 3 angles × 50² frames, identical shapes, different noise: 64 datasets
(quick: 8). Cold = compile + first run; warm = median of 3 (block_until_ready).

    python -m benchmarks batch [--quick]
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks.common import (
    device_peak_gb,
    median_time,
    peak_rss_gb,
    print_table,
    timed,
    write_results,
)

COLUMNS = [("strategy", "strategy", "s"), ("datasets", "datasets", "d"),
           ("points", "points", ","), ("cold_s", "cold s", ".2f"), ("warm_s", "warm s", ".3f"),
           ("fits_per_s", "fits/s", ".1f"), ("points_per_s", "points/s", ".3g"),
           ("nfev_mean", "mean nfev", ".1f"), ("chi2_red_mean", "mean χ²_red", ".4f"),
           ("max_rel_diff", "max rel Δ vs loop", ".1e"), ("max_z", "max \\|Δ\\|/σ", ".2f"),
           ("peak_rss_gb", "peak RSS GiB", ".2f")]
TRUTH = np.array([3e3, 0.6, 20.0])


def run(quick: bool = False) -> None:
    """vmap and loop over 64 datasets (quick: 8)."""
    import jax

    import xpcsfit
    from xpcsfit import FitConfig

    n = 8 if quick else 64
    phi = np.array([-45.0, 0.0, 45.0])
    datasets = [xpcsfit.simulate(TRUTH, 0.35, 1.0, n_t=50, dt=0.2, phi=phi, q=0.005, L=2e6,
                                 seed=s, mode="static_isotropic")[0] for s in range(n)]
    batch = jax.tree.map(lambda *xs: np.stack(xs), *datasets)
    cfg = FitConfig.create(analysis_mode="static_isotropic", per_angle_mode="individual")
    batched = jax.jit(jax.vmap(lambda d: xpcsfit.fit(d, cfg)))
    single = jax.jit(xpcsfit.fit, static_argnames="config")
    def host(out):
        return jax.tree.map(np.asarray, out)  # waits for the device

    runs = {"vmap": lambda: host(batched(batch)),
            "loop": lambda: jax.tree.map(lambda *xs: np.stack(xs),
                                         *[host(single(d, config=cfg)) for d in datasets])}
    rows, out = [], {}
    for name, fn in runs.items():
        _, cold_s = timed(fn)
        out[name], warm_s, _ = median_time(fn, 3)
        res, points = out[name], n * datasets[0].n_points
        rows.append({"strategy": name, "datasets": n, "points": points, "cold_s": cold_s,
                     "warm_s": warm_s, "fits_per_s": n / warm_s, "points_per_s": points / warm_s,
                     "nfev_mean": float(np.mean(res.nfev)),
                     "chi2_red_mean": float(np.mean(res.reduced_chi_squared)),
                     "max_z": float(np.max(np.abs(res.parameters[:, -3:] - TRUTH)
                                           / res.uncertainties[:, -3:])),
                     "peak_rss_gb": peak_rss_gb(), "device_peak_gb": device_peak_gb()})
    loop = out["loop"].parameters
    rows[0]["max_rel_diff"] = float(np.max(np.abs(out["vmap"].parameters - loop) / np.abs(loop)))
    write_results("batch", rows, print_table(rows, COLUMNS))


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
