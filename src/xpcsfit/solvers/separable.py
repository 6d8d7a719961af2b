"""Variable projection: least squares with the first m parameters entering linearly.

For a residual r(ℓ, θ) = J_ℓ(θ)·ℓ + r₀(θ) — affine in ℓ (m values), with columns J_ℓ that
do not depend on ℓ — the best ℓ for a fixed θ is a linear least-squares solution ℓ*(θ), and
the outer solver minimises the variable-projection functional f(θ) = ½‖r(ℓ*(θ), θ)‖² over θ
alone (Golub & Pereyra 1973).

Everything here is an *evaluator transform*: it takes any ``evaluate(x, *args) -> (cost, JᵀJ,
Jᵀr)`` over x = (ℓ, θ) and returns one over θ, so dense, chunked, host-streamed and sharded
sums all get it unchanged. One reduced evaluation is two passes of `evaluate`:

1. at (ℓ_ref, θ): G_ℓℓ = J_ℓᵀJ_ℓ and g_ℓ = J_ℓᵀr are exact for every ℓ (J_ℓ does not depend
   on ℓ, r is affine in ℓ), so ℓ*(θ) = ℓ_ref − G_ℓℓ⁺·g_ℓ exactly;
2. at (ℓ*, θ): the cost f(θ); the gradient g_θ = J_θᵀr, which is the exact ∇f because
   J_ℓᵀr = 0 at ℓ* (envelope theorem); and Kaufman's Gram matrix
   S = G_θθ − G_θℓ·G_ℓℓ⁺·G_ℓθ = J_Kᵀ J_K with J_K = P⊥·J_θ (Kaufman 1975).

Kaufman, not Golub–Pereyra's full Jacobian: the full one adds (J_ℓ⁺)ᵀ(∂J_ℓ/∂θ)ᵀr, a term
that vanishes at a zero-residual fit and needs sums no Gram evaluator provides. The gradient
is exact either way, so the stationary points are those of the full problem; only the
Gauss–Newton model differs. A singular G_ℓℓ (a linear column identically zero or two
collinear) is pseudo-inverted, which picks the ℓ* closest to ℓ_ref in G_ℓℓ's scaled norm.

The linear parameters are unconstrained: bounds apply to θ only. A caller that has bounds
on ℓ checks ℓ* against them afterwards (clipping would change f and break ∇f = J_θᵀr).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, Float

from .covariance import covariance
from .trust_region import SolverResult, trust_region_solve


def _pinv(gram: Float[Array, "m m"]) -> Float[Array, "m m"]:
    """Jacobi-scaled pseudo-inverse of a symmetric PSD matrix (`covariance` with unit scale:
    eigenvalues below m·eps·λ_max of the scaled matrix are dropped)."""
    m = gram.shape[0]
    free = jnp.zeros(m, dtype=jnp.int32)
    return covariance(gram, jnp.asarray(0.5, gram.dtype), m, free, absolute_sigma=True)[0]


def _linear_step(evaluate, m, theta, l_ref, args):
    _, gram, grad = evaluate(jnp.concatenate([l_ref, theta]), *args)
    inv = _pinv(gram[:m, :m])
    return l_ref - inv @ grad[:m], inv


def linear_solution(
    evaluate: Callable[..., tuple[Any, Any, Any]],
    n_linear: int,
    theta: Float[Array, " k"],
    l_ref: Float[Array, " m"],
    *args: Any,
) -> Float[Array, " m"]:
    """ℓ*(θ): the linear least-squares values of the first `n_linear` parameters at θ
    (one pass of `evaluate` at (ℓ_ref, θ); any finite ℓ_ref gives the same answer)."""
    return _linear_step(evaluate, n_linear, theta, l_ref, args)[0]


def project(
    evaluate: Callable[..., tuple[Any, Any, Any]], n_linear: int
) -> Callable[..., tuple[Any, Any, Any]]:
    """The reduced evaluator ``reduced(θ, ℓ_ref, *args) -> (f(θ), S, ∇f(θ))`` (module docstring).

    **Arguments:**
    - `evaluate`: ``evaluate(x, *args) -> (cost, JᵀJ, Jᵀr)`` over x = (ℓ, θ), the residual
      affine in the first `n_linear` entries ℓ with ∂r/∂ℓ independent of ℓ.
    - `n_linear`: m ≥ 1.
    """
    m = int(n_linear)

    def reduced(theta, l_ref, *args):
        l_star, inv = _linear_step(evaluate, m, theta, l_ref, args)
        cost, gram, grad = evaluate(jnp.concatenate([l_star, theta]), *args)
        cross = gram[:m, m:]
        schur = gram[m:, m:] - cross.T @ inv @ cross
        return cost, 0.5 * (schur + schur.T), grad[m:]

    return reduced


def separable_solve(
    evaluate: Callable[..., tuple[Any, Any, Any]],
    l_ref: Float[Array, " m"],
    theta0: Float[Array, " k"],
    lower: Float[Array, " k"],
    upper: Float[Array, " k"],
    *,
    args: tuple = (),
    **solver_kw: Any,
) -> SolverResult:
    """Bounded trust-region solve over θ with ℓ eliminated; result in the full layout (ℓ, θ).

    **Arguments:**
    - `evaluate`: full evaluator over x = (ℓ, θ) (see `project`).
    - `l_ref`: (m,) reference linear values (e.g. the start; only the linear pass uses it).
    - `theta0`, `lower`, `upper`: start and bounds of the nonlinear parameters (k,).
    - `solver_kw`: ftol, xtol, gtol, max_nfev (counts reduced evaluations, each two passes),
      x_scale, callback, n_rows — as `trust_region_solve`.

    **Returns:** a `SolverResult` with x = (ℓ*, θ*), and cost, JᵀJ and Jᵀr of one full pass
    at x (so covariances of all parameters follow as for an unreduced fit); `active_mask`
    is 0 for ℓ (unconstrained) and the reduced solve's flags for θ; nfev, njev and status
    are the reduced solve's.
    """
    l_ref = jnp.asarray(l_ref, dtype=jnp.float64)
    theta0 = jnp.asarray(theta0, dtype=jnp.float64)
    if l_ref.ndim != 1 or l_ref.shape[0] < 1:
        raise ValueError(f"l_ref: expected a 1-D array of >= 1 linear values, got shape "
                         f"{l_ref.shape}")
    if theta0.ndim != 1 or theta0.shape[0] < 1:
        raise ValueError(f"theta0: expected a 1-D array of >= 1 values, got shape {theta0.shape}")
    m = l_ref.shape[0]
    res = trust_region_solve(project(evaluate, m), theta0, lower, upper,
                             args=(l_ref, *args), **solver_kw)
    l_star = linear_solution(evaluate, m, res.x, l_ref, *args)
    x = jnp.concatenate([l_star, res.x])
    cost, gram, grad = evaluate(x, *args)
    active = jnp.concatenate([jnp.zeros(m, dtype=res.active_mask.dtype), res.active_mask])
    return SolverResult(x=x, cost=cost, grad=grad, jtj=gram, nfev=res.nfev, njev=res.njev,
                        status=res.status, success=res.success, active_mask=active,
                        observed=res.observed)
