"""L3: coefficient-of-variation regularisation as extra residual rows.

For a group of per-angle values v (contrast, offset), CV = std(v)/|mean(v)|. Rows
r_g = sqrt(2·λ·MSE·n)·CV_g add Σ_g λ·CV_g²·MSE·n to ½‖r‖², so the penalty works with any
Gauss–Newton solver and with chunked or streamed sums (it only adds to cost, JᵀJ, Jᵀr).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float


def auto_lambda(target_contribution: float = 0.10, target_cv: float = 0.10) -> float:
    """λ such that a CV of `target_cv` adds `target_contribution`·MSE·n to the loss (=10)."""
    return target_contribution / target_cv**2


def cv(values: Float[Array, " n_phi"]) -> Float[Array, ""]:
    """std/|mean| (population std)."""
    mean = jnp.mean(values)
    return jnp.sqrt(jnp.mean((values - mean) ** 2)) / jnp.abs(mean)


def cv_penalty_rows(
    x_full: Float[Array, " n"], n_phi: int, *, lam: float, mse: float, n_points: int
) -> Float[Array, " 2"]:
    """Rows [r_contrast, r_offset] with ½Σr² = Σ λ·CV²·MSE·n."""
    scale = jnp.sqrt(2.0 * lam * mse * n_points)
    return scale * jnp.stack([cv(x_full[:n_phi]), cv(x_full[n_phi : 2 * n_phi])])
