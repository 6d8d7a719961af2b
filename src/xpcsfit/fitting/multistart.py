"""Multistart: Latin-hypercube starts, optional screening by cost, batched local fits, basins.

With `optimization.nlsq.multi_start.enable` (or `fit_nlsq_multistart`) the fit's start
list is the configured start plus n_starts Latin-hypercube points in the bounds of the
free physical parameters (per-angle values from the configured start). Every start runs
the same attempt as a single fit (per-angle mode, defenses), as one `jax.vmap` in memory;
the lowest χ² wins, and the local minima are grouped into basins: results within 10 % of
the best χ² whose bound-normalised distance to a basin's representative is < 0.2.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

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


def candidate_starts(plan, z0, lower, upper, n_physical_free: int):
    """(m, k) starts: z0, then (multistart) z0 with its physical part replaced by
    Latin-hypercube points in the physical bounds."""
    if not plan.multistart.enable:
        return z0[None, :]
    k = z0.shape[0]
    phys = slice(k - n_physical_free, k)
    ms = plan.multistart
    samples = latin_hypercube(jax.random.PRNGKey(ms.seed), ms.n_starts,
                              np.asarray(lower)[phys], np.asarray(upper)[phys])
    starts = jnp.repeat(z0[None, :], ms.n_starts + 1, axis=0)
    return starts.at[1:, phys].set(samples)


def start_names(plan) -> tuple[str, ...]:
    """Names of the candidate starts (in the attempt log's index order)."""
    if plan.multistart.enable:
        return ("configured",) + tuple(f"latin_hypercube[{i}]"
                                       for i in range(plan.multistart.n_starts))
    if plan.screening_active:  # the screened start runs second (pipeline.run)
        return (plan.recovery[0], "screened", *plan.recovery[1:])
    return plan.recovery


def cluster_basins(x: np.ndarray, chi2: np.ndarray, lower, upper) -> list[dict[str, Any]]:
    """Group results within 10% χ² of the best by normalised distance < 0.2."""
    lower, upper = np.asarray(lower), np.asarray(upper)
    span = np.where(np.isfinite(upper - lower), upper - lower, 1.0)
    finite = np.isfinite(chi2)
    if not finite.any():
        return []
    best = float(np.min(chi2[finite]))
    near = np.flatnonzero(finite & (chi2 <= best * (1 + BASIN_CHI2_FRACTION)))
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


def fit_nlsq_multistart(data, config: Any = None, *, n_starts: int | None = None,
                        seed: int | None = None, **kwargs: Any):
    """`fit` with multistart on: n_starts Latin-hypercube starts plus the configured start.

    Config keys (`optimization.nlsq.multi_start`): n_starts (10), seed (0), use_screening
    (False), screen_keep_fraction (0.5); the keyword arguments override them. Every
    per-angle mode and strategy works. The report is in ``device_info["multistart"]``.
    """
    from .api import as_config, fit

    cfg = as_config(config)
    ms = dataclasses.replace(cfg.multistart, enable=True)
    for name, value in (("n_starts", n_starts), ("seed", seed)):
        if value is not None:
            key = f"optimization.nlsq.multi_start.{name}"
            from .config.keys import BY_PATH

            ms = dataclasses.replace(ms, **{name: BY_PATH[key].parse(key, value)})
    return fit(data, dataclasses.replace(cfg, multistart=ms), **kwargs)
