"""Multistart: Latin-hypercube starts, optional screening by cost, batched local fits, basins.

The local fits of all starts run as one `jax.vmap` over the start vector of the same
compiled trust-region solve (the data are shared), the best by χ² is refined by `fit`
(so it carries the full result, recovery and covariance), and the local minima are
grouped into basins: results within 10% of the best χ² whose bound-normalised distance to
a basin's representative is < 0.2.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..data import XPCSData
from ..physics.parameters import ParameterSpace
from .api import _as_config, _initial_full, fit
from .result import OptimizationResult
from .strategies import chunk_pairs_for, cost_at, solve_grid
from .structured import make_grid_problem

BASIN_CHI2_FRACTION = 0.10
BASIN_DISTANCE = 0.2


def latin_hypercube(key, n: int, lower, upper) -> jnp.ndarray:
    """n points in the box, one per stratum in every dimension (jax.random, reproducible)."""
    lower, upper = jnp.asarray(lower), jnp.asarray(upper)
    d = lower.shape[0]
    k_perm, k_jit = jax.random.split(key)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(k_perm, d))
    u = (perms.T + jax.random.uniform(k_jit, (n, d))) / n
    return lower[None, :] + u * (upper - lower)[None, :]


def cluster_basins(x: np.ndarray, chi2: np.ndarray, lower, upper) -> list[dict[str, Any]]:
    """Group results within 10% χ² of the best by normalised distance < 0.2."""
    span = np.where(np.isfinite(upper - lower), upper - lower, 1.0)
    best = float(np.min(chi2))
    near = np.flatnonzero(chi2 <= best * (1 + BASIN_CHI2_FRACTION))
    basins: list[dict[str, Any]] = []
    for i in near[np.argsort(chi2[near])]:
        z = x[i] / span
        for basin in basins:
            if np.linalg.norm(z - basin["_z"]) / np.sqrt(z.size) < BASIN_DISTANCE:
                basin["members"].append(int(i))
                break
        else:
            basins.append({"_z": z, "representative": int(i), "chi_squared": float(chi2[i]),
                           "members": [int(i)]})
    return [{k: v for k, v in b.items() if k != "_z"} for b in basins]


def fit_nlsq_multistart(
    data: XPCSData, config: Any = None, *, n_starts: int | None = None, seed: int | None = None
) -> OptimizationResult:
    """Fit from n_starts Latin-hypercube starts (+ the configured start); return the best.

    Config keys (`optimization.nlsq.multi_start`): n_starts (10), seed (0), use_screening
    (False), screen_keep_fraction (0.5). Physical parameters are sampled in their bounds;
    per-angle contrast/offset start from the quantile estimates. The report is in
    ``device_info["multistart"]``.
    """
    t0 = time.perf_counter()
    cfg = _as_config(config)
    ms = cfg.section("multi_start")
    n_starts = int(n_starts if n_starts is not None else ms.get("n_starts", 10))
    seed = int(seed if seed is not None else ms.get("seed", 0))
    if n_starts < 1:
        raise ValueError(f"optimization.nlsq.multi_start.n_starts: must be >= 1, got {n_starts}")
    space = ParameterSpace.create(cfg.analysis_mode, data.n_phi,
                                  bounds={k: (lo, hi) for k, lo, hi in cfg.bounds} or None)
    x0, _ = _initial_full(data, space, cfg, None)
    n = data.n_phi
    rep = space.reparam("individual", np.asarray(data.phi))
    lower, upper = space.full_lower(), space.full_upper()
    phys = slice(2 * n, None)
    samples = np.asarray(latin_hypercube(jax.random.PRNGKey(seed), n_starts, lower[phys],
                                         upper[phys]))
    starts = np.repeat(x0[None, :], n_starts + 1, axis=0)
    starts[1:, phys] = samples
    span = upper - lower
    starts = np.clip(starts, lower + 1e-10 * span, upper - 1e-10 * span)
    problem = make_grid_problem(data.g2, data.sigma, data.t, data.phi, data.q, data.L,
                                mode=cfg.analysis_mode, convention=cfg.convention,
                                chunk_pairs=chunk_pairs_for(n, cfg.chunk_points))
    A, b = jnp.asarray(rep.A), jnp.asarray(rep.b)
    screened = None
    if ms.get("use_screening", False):
        costs = np.asarray(jax.vmap(lambda z: cost_at(z, problem, A, b))(jnp.asarray(starts)))
        keep = max(1, int(np.ceil(float(ms.get("screen_keep_fraction", 0.5)) * len(starts))))
        order = np.argsort(costs)[:keep]
        screened = {"start_costs": costs.tolist(), "kept": order.tolist()}
        starts = starts[order]
    batch = jax.vmap(lambda z0: solve_grid(problem, A, b, jnp.asarray(lower), jnp.asarray(upper),
                                           z0, ftol=cfg.ftol, xtol=cfg.xtol, gtol=cfg.gtol,
                                           max_nfev=cfg.max_nfev))(jnp.asarray(starts))
    chi2 = 2.0 * np.asarray(batch.cost)
    chi2 = np.where(np.isfinite(chi2), chi2, np.inf)
    xs = np.asarray(batch.x)
    best = int(np.argmin(chi2))
    result = fit(data, cfg.replace(per_angle_mode="individual"), init=xs[best])
    report = {
        "n_starts": n_starts, "seed": seed, "screening": screened,
        "starts": starts.tolist(), "chi_squared": chi2.tolist(), "best_start": best,
        "basins": cluster_basins(xs, chi2, lower, upper),
        "seconds": time.perf_counter() - t0,
    }
    result.device_info["multistart"] = report
    return result
