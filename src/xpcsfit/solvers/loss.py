"""Robust losses of scipy.optimize.least_squares as per-point weights of the Gram sums.

A loss ρ(z) of z = (r/C)² (C = `f_scale`) replaces the cost ½Σr² by ½Σ C²·ρ(zᵢ). Each
loss returns (ρ, ρ', ρ'') with derivatives in z:

    linear   ρ = z                 ρ' = 1                ρ'' = 0
    soft_l1  ρ = 2(√(1+z) − 1)     ρ' = (1+z)^−½         ρ'' = −½(1+z)^−³ᐟ²
    huber    ρ = z        (z ≤ 1)  ρ' = 1                ρ'' = 0
             ρ = 2√z − 1  (z > 1)  ρ' = z^−½             ρ'' = −½z^−³ᐟ²
    cauchy   ρ = ln(1+z)           ρ' = 1/(1+z)          ρ'' = −1/(1+z)²
    arctan   ρ = arctan z          ρ' = 1/(1+z²)         ρ'' = −2z/(1+z²)²

scipy's trf (``scale_for_robust_loss_function``) works on a rescaled problem: with
s_i = max(ρ'ᵢ + 2ρ''ᵢ·rᵢ²/C², eps) (its floor at machine epsilon), it uses the rows √sᵢ·Jᵢ
and the residuals ρ'ᵢ·rᵢ/√sᵢ, and the cost ½Σ C²ρ(zᵢ) (its ρ[0]·C² and ρ[2]/C²). In Gram
form this is, per point,

    cost_terms = C²·ρ(z),   gram_weight = max(ρ' + 2z·ρ'', eps),   moment_weight = ρ',

so that cost = ½Σ cost_terms, JᵀJ = Σ gram_weightᵢ·JᵢᵀJᵢ and Jᵀr = Σ moment_weightᵢ·Jᵢ·rᵢ
(the exact gradient of the robust cost; JᵀJ is its Gauss–Newton curvature). With data
weights wᵢ (residuals √wᵢ·rᵢ, e.g. w = 1/σ²), z = w·r²/C² and both weights are multiplied
by w, so the rows and residuals stay unwhitened.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

EPS = float(np.finfo(np.float64).eps)


def linear(z: Float[Array, "..."]) -> tuple[Array, Array, Array]:
    """ρ(z) = z and its first two derivatives."""
    return z, jnp.ones_like(z), jnp.zeros_like(z)


def soft_l1(z: Float[Array, "..."]) -> tuple[Array, Array, Array]:
    """ρ(z) = 2(√(1+z) − 1), written 2z/(√(1+z) + 1) to avoid cancellation at small z."""
    root = jnp.sqrt(1.0 + z)
    return 2.0 * z / (root + 1.0), 1.0 / root, -0.5 / ((1.0 + z) * root)


def huber(z: Float[Array, "..."]) -> tuple[Array, Array, Array]:
    """ρ(z) = z for z ≤ 1, 2√z − 1 above (branches kept NaN-free for autodiff)."""
    outer = z > 1.0
    safe = jnp.where(outer, z, 1.0)
    root = jnp.sqrt(safe)
    return (jnp.where(outer, 2.0 * root - 1.0, z), jnp.where(outer, 1.0 / root, 1.0),
            jnp.where(outer, -0.5 / (safe * root), 0.0))


def cauchy(z: Float[Array, "..."]) -> tuple[Array, Array, Array]:
    """ρ(z) = ln(1 + z)."""
    inv = 1.0 / (1.0 + z)
    return jnp.log1p(z), inv, -inv * inv


def arctan(z: Float[Array, "..."]) -> tuple[Array, Array, Array]:
    """ρ(z) = arctan(z)."""
    inv = 1.0 / (1.0 + z * z)
    return jnp.arctan(z), inv, -2.0 * z * inv * inv


LOSSES = {"linear": linear, "soft_l1": soft_l1, "huber": huber, "cauchy": cauchy,
          "arctan": arctan}


def check_loss(loss: str, f_scale: float | ArrayLike) -> None:
    """Raise ValueError unless `loss` is a known name and `f_scale` a finite number > 0.

    A traced `f_scale` (inside jit/vmap) cannot be inspected and is not checked here.
    """
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss: expected one of {sorted(LOSSES)}, got {loss!r}")
    if isinstance(f_scale, jax.core.Tracer):
        return
    try:
        value = np.asarray(f_scale, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"f_scale: must be a finite number > 0, got {f_scale!r}") from None
    if value.ndim != 0 or not math.isfinite(float(value)) or float(value) <= 0.0:
        raise ValueError(f"f_scale: must be a finite number > 0, got {f_scale!r}")


def robust_weights(
    r: Float[Array, "..."], loss: str, f_scale: float | ArrayLike = 1.0,
    weights: Float[Array, "..."] | None = None,
) -> tuple[Float[Array, "..."], Float[Array, "..."], Float[Array, "..."]]:
    """Per-point (cost_terms, gram_weight, moment_weight) of a robust loss (module docstring).

    **Arguments:**
    - `r`: residuals, any shape (units of the data).
    - `loss`: a name in `LOSSES` (static); `f_scale`: C, the residual scale at which the
      loss leaves its quadratic region (units of √w·r).
    - `weights`: optional data weights w (same shape as r, ≥ 0, e.g. 1/σ²).

    **Returns:** arrays of r's shape with cost = ½Σ cost_terms, JᵀJ = Σ gram_weight·JᵢᵀJᵢ,
    Jᵀr = Σ moment_weight·Jᵢ·rᵢ. For `linear`: (w·r², w, w) exactly (w = 1 if absent).
    """
    check_loss(loss, f_scale)
    w = jnp.ones_like(r) if weights is None else weights
    if loss == "linear":
        return w * r * r, w, w
    scale2 = jnp.asarray(f_scale, dtype=r.dtype) ** 2
    z = w * (r * r) / scale2
    rho, d1, d2 = LOSSES[loss](z)
    gram = jnp.maximum(d1 + 2.0 * z * d2, EPS)
    return scale2 * rho, w * gram, w * d1


def robust_cost(
    r: Float[Array, "..."], loss: str, f_scale: float | ArrayLike = 1.0,
    weights: Float[Array, "..."] | None = None,
) -> Float[Array, ""]:
    """½Σ C²·ρ(w·r²/C²), the robust cost alone (for cost-only passes)."""
    return 0.5 * jnp.sum(robust_weights(r, loss, f_scale, weights)[0])
