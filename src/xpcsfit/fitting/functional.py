"""The fit as a pure JAX function: jittable, vmappable over datasets, differentiable.

`fit_arrays` does what `fit` does for the in-memory strategy, without host decisions
(no recovery attempts, no strategy choice, no Python-side result building), so it can
run under `jax.jit`, `jax.vmap` and `jax.grad`. Gradients of the fitted parameters
w.r.t. the data (g2, sigma, t, q, L) come from the implicit function theorem at the
solution (`solvers.implicit`); the start gets zero gradient. `fit` calls it
automatically when it is traced.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ..data import XPCSData, is_symmetric, quantile_start
from ..physics.parameters import ParameterSpace
from ..solvers.covariance import covariance
from .config import FitConfig
from .implicit import implicit_solve
from .strategies import chunk_pairs_for
from .structured import make_grid_problem

TRACEABLE_MODES = ("individual", "averaged", "constant")


class FitOutput(eqx.Module):
    """Arrays of a traced fit (full layout ``[c…, o…, physical…]``)."""

    parameters: Float[Array, " n"]
    uncertainties: Float[Array, " n"]
    covariance: Float[Array, "n n"]
    chi_squared: Float[Array, ""]
    reduced_chi_squared: Float[Array, ""]
    success: Bool[Array, ""]
    status: Int[Array, ""]
    nfev: Int[Array, ""]


def _static_start(space: ParameterSpace, cfg: FitConfig) -> np.ndarray:
    x0 = space.full_default()
    names = space.full_names
    for name, value in cfg.initial_values:
        if name in ("contrast", "offset"):
            continue
        x0[names.index(space.canonical(name))] = value
    return np.clip(x0, space.full_lower(), space.full_upper())


def fit_arrays(data: XPCSData, config: FitConfig | None = None, init: Any = None) -> FitOutput:
    """Fit `data` as one traceable JAX computation (in-memory, no recovery).

    **Arguments:**
    - `data`: `XPCSData` (its arrays may be tracers, e.g. under `jax.vmap`).
    - `config`: a `FitConfig` (static; hashable). Per-angle modes: individual, averaged,
      constant (auto → individual below the Fourier threshold).
    - `init`: optional full-layout start (array, may be traced).

    **Returns:** a `FitOutput`.
    """
    cfg = FitConfig() if config is None else config
    n = data.g2.shape[0]
    mode = cfg.per_angle_mode
    if mode == "auto":
        mode = "individual" if n < cfg.fourier_auto_threshold else "fourier"
    if mode not in TRACEABLE_MODES:
        raise ValueError(
            f"optimization.nlsq.anti_degeneracy.per_angle_mode: {mode!r} is not available "
            f"in a traced fit; use one of {TRACEABLE_MODES}"
        )
    space = ParameterSpace.create(
        cfg.analysis_mode, n, bounds={k: (lo, hi) for k, lo, hi in cfg.bounds} or None)
    contrast, offset = quantile_start(data.g2, jnp)
    x0 = jnp.asarray(_static_start(space, cfg))
    x0 = x0.at[:n].set(contrast).at[n : 2 * n].set(offset)
    if init is not None:
        x0 = jnp.asarray(init, dtype=jnp.float64)
    reparam = space.reparam(mode, np.zeros(n), contrast_fixed=np.zeros(n),
                            offset_fixed=np.zeros(n))
    A = jnp.asarray(reparam.A)
    b = jnp.asarray(reparam.b)
    if mode == "constant":
        b = b.at[:n].set(x0[:n]).at[n : 2 * n].set(x0[n : 2 * n])
    lower, upper = jnp.asarray(reparam.lower), jnp.asarray(reparam.upper)
    z0 = jnp.linalg.lstsq(A, x0 - b)[0]
    span = upper - lower
    z0 = jnp.clip(z0, lower + 1e-10 * span, upper - 1e-10 * span)
    problem = make_grid_problem(
        data.g2, data.sigma, data.t, data.phi, data.q, data.L, mode=cfg.analysis_mode,
        convention=cfg.convention, chunk_pairs=chunk_pairs_for(n, cfg.chunk_points))
    res = implicit_solve(problem, A, b, lower, upper, z0,
                         (cfg.ftol, cfg.xtol, cfg.gtol, cfg.max_nfev))
    n_points = n * data.g2.shape[1] * (data.g2.shape[1] - 1)
    cov_z, _ = covariance(res.jtj, res.cost, n_points, res.active_mask)
    cov = jnp.where(is_symmetric(data.g2, data.sigma, jnp), 2.0, 1.0) * (A @ cov_z @ A.T)
    chi2 = 2.0 * res.cost
    dof = n_points - jnp.sum(res.active_mask == 0)
    return FitOutput(
        parameters=A @ res.x + b,
        uncertainties=jnp.sqrt(jnp.clip(jnp.diag(cov), 0.0, None)),
        covariance=cov,
        chi_squared=chi2,
        reduced_chi_squared=chi2 / dof,
        success=res.success,
        status=res.status,
        nfev=res.nfev,
    )
