"""Throughput of batched fits: `jax.vmap` over datasets vs a Python loop of jitted fits.

64 datasets of static_isotropic, 3 angles × 50² frames (identical shapes, different noise).

    python -m benchmarks.batch
"""

from __future__ import annotations

import jax
import numpy as np

from benchmarks.common import environment, median_time, print_table, write_json


def run(n_datasets: int = 64):
    import xpcsfit
    from xpcsfit import FitConfig
    from xpcsfit.fitting.functional import fit_arrays

    phi = np.array([-45.0, 0.0, 45.0])
    datasets = [xpcsfit.simulate([3e3, 0.6, 20.0], 0.35, 1.0, n_t=50, dt=0.2, phi=phi,
                                 q=0.005, L=2e6, seed=s, mode="static_isotropic")[0]
                for s in range(n_datasets)]
    batch = jax.tree.map(lambda *xs: np.stack(xs), *datasets)
    cfg = FitConfig(analysis_mode="static_isotropic", per_angle_mode="individual")
    batched = jax.jit(jax.vmap(lambda d: fit_arrays(d, cfg)))
    single = jax.jit(fit_arrays, static_argnames="config")
    jax.block_until_ready(batched(batch).parameters)
    jax.block_until_ready(single(datasets[0], config=cfg).parameters)
    out, vmap_s, _ = median_time(lambda: jax.block_until_ready(batched(batch).parameters), 3)
    _, loop_s, _ = median_time(lambda: [jax.block_until_ready(single(d, config=cfg).parameters)
                                        for d in datasets], 3)
    loop = np.stack([np.asarray(single(d, config=cfg).parameters) for d in datasets])
    rows = [{"datasets": n_datasets, "points_each": datasets[0].n_points,
             "vmap_s": vmap_s, "loop_s": loop_s, "vmap_fits_per_s": n_datasets / vmap_s,
             "loop_fits_per_s": n_datasets / loop_s, "speedup": loop_s / vmap_s,
             "max_rel_diff": float(np.max(np.abs(np.asarray(out) - loop) / np.abs(loop)))}]
    table = print_table(rows, [("datasets", "datasets", "d"), ("points_each", "points each", ","),
                               ("vmap_s", "vmap s", ".3f"), ("loop_s", "loop s", ".3f"),
                               ("vmap_fits_per_s", "vmap fits/s", ".1f"),
                               ("loop_fits_per_s", "loop fits/s", ".1f"),
                               ("speedup", "loop/vmap", ".2f"), ("max_rel_diff", "max rel Δ", ".1e")])
    print(f"wrote {write_json('batch', {'environment': environment(), 'cases': rows, 'table': table})}")


if __name__ == "__main__":
    run()
