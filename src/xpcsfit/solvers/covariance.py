"""Parameter covariance from the Gram matrix at a least-squares solution."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int


def covariance(
    jtj: Float[Array, "n n"],
    cost: Float[Array, ""],
    n_residuals: int,
    active_mask: Int[Array, " n"],
    *,
    absolute_sigma: bool = False,
) -> tuple[Float[Array, "n n"], Bool[Array, ""]]:
    """(JᵀJ)⁻¹ on the free parameters, scaled by χ²/(m − p_free) unless `absolute_sigma`.

    Rows and columns of parameters at a bound (active_mask ≠ 0) are zero. A singular
    free block is pseudo-inverted (eigenvalues below n·eps·λ_max dropped) and flagged.

    **Returns:** (covariance (n, n), singular flag).
    """
    free = (jnp.asarray(active_mask) == 0).astype(jtj.dtype)
    n = jtj.shape[0]
    block = jtj * free[:, None] * free[None, :]
    scale = jnp.sqrt(jnp.where(jnp.diag(block) > 0, jnp.diag(block), 1.0))
    normed = block / scale[:, None] / scale[None, :]
    lam, vecs = jnp.linalg.eigh(normed)
    cutoff = n * jnp.finfo(jtj.dtype).eps * jnp.max(jnp.abs(lam))
    keep = lam > cutoff
    inv = (vecs * jnp.where(keep, 1.0 / jnp.where(keep, lam, 1.0), 0.0)[None, :]) @ vecs.T
    cov = inv / scale[:, None] / scale[None, :] * free[:, None] * free[None, :]
    p_free = jnp.sum(free)
    singular = jnp.sum(keep) < p_free
    if not absolute_sigma:
        dof = jnp.maximum(n_residuals - p_free, 1.0)
        cov = cov * (2.0 * cost / dof)
    return cov, singular
