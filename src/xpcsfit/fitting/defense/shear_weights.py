"""L5: shear-sensitivity weights on residual rows.

Angles near the flow direction carry the shear signal; angles near perpendicular carry
almost none. w(φ) = w_min + (1 − w_min)·|cos(φ0 − φ)|^α, normalised to mean 1, multiplies
each angle's residual rows (so its data weight by w²). Degrees are converted once, here.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def shear_weights(
    phi_deg: Float[ArrayLike, " n_phi"],
    phi0_deg: Float[ArrayLike, ""],
    *,
    w_min: float = 0.3,
    alpha: float = 1.0,
) -> Float[Array, " n_phi"]:
    """Per-angle row weights (mean 1) from the angles and the flow direction φ0 (degrees)."""
    delta = jnp.deg2rad(jnp.asarray(phi0_deg) - jnp.asarray(phi_deg))
    w = w_min + (1.0 - w_min) * jnp.abs(jnp.cos(delta)) ** alpha
    return w / jnp.mean(w)


def apply_angle_weights(
    weight: Float[Array, "n_phi P"], w: Float[Array, " n_phi"]
) -> Float[Array, "n_phi P"]:
    """Data weights 1/σ² scaled so that each angle's residual rows are multiplied by w_a."""
    return weight * (w * w)[:, None]
