"""Residual vectors r = (c2 − g2)/σ of the fit, for autodiff paths, references and debugging.

The fit itself never forms r (see `structured.py`); these forms exist for new models
(generic autodiff with `least_squares`), as references in tests and benchmarks, and for
inspection. All exclude the diagonal t1 == t2.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..data import XPCSData, is_symmetric
from ..physics.g2 import g2_model


def _model(x, data: XPCSData, mode: str, convention: str):
    n = data.g2.shape[0]
    return g2_model(x[2 * n :], x[:n], x[n : 2 * n], data.t, data.phi, q=data.q, L=data.L,
                    mode=mode, convention=convention)


def masked_residual(
    x: Float[Array, " n"], data: XPCSData, *, mode: str = "laminar_flow",
    convention: str = "paper",
) -> Float[Array, " N"]:
    """Jittable residuals over the full (φ, t1, t2) grid, zero on the diagonal (static shape
    n_phi·n_t²), for the full-layout parameter vector x."""
    mask = 1.0 - jnp.eye(data.g2.shape[1])
    return ((data.g2 - _model(x, data, mode, convention)) * mask[None, :, :] / data.sigma).ravel()


def plain_residual(x, data: XPCSData, *, mode: str = "laminar_flow",
                   convention: str = "paper") -> np.ndarray:
    """NumPy residuals of the fitted (off-diagonal) points only, angle-major, for debugging."""
    r = (np.asarray(data.g2) - np.asarray(_model(jnp.asarray(x), data, mode, convention))) / \
        np.asarray(data.sigma)
    return r[:, ~np.eye(data.g2.shape[1], dtype=bool)].ravel()


def fitted_residual(x: Float[Array, " n"], data: XPCSData, *, mode: str = "laminar_flow",
                    convention: str = "paper") -> Float[Array, " N"]:
    """Jittable residuals over the points a host fit holds (in memory or streamed):
    off-diagonal, and only t1 < t2 for exactly symmetric c2 and σ (each independent value
    once). `data` must be concrete (the symmetry is decided on the host)."""
    r = masked_residual(x, data, mode=mode, convention=convention).reshape(data.g2.shape)
    n_t = data.g2.shape[1]
    if bool(is_symmetric(np.asarray(data.g2), np.asarray(data.sigma))):
        i, j = np.triu_indices(n_t, 1)
    else:
        i, j = np.nonzero(~np.eye(n_t, dtype=bool))
    return r[:, i, j].ravel()
