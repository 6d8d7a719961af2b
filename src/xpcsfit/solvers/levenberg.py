"""A small bounded Levenberg–Marquardt refinement with a fixed number of iterations.

For locating the local minimum near many starts at once (vmapped), where the full
trust-region reflective solver (`trust_region`) would be precise but costly to compile:
each iteration solves (JᵀJ + λ·diag(JᵀJ))·Δ = −Jᵀr, clips the step into the box, and
accepts it if the cost decreased (then λ /= 3, else λ *= 4). It never stops early, so a
batch runs in lockstep; its answer is a start for the exact solver, not a result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float


def lm_refine(
    evaluate: Callable[..., tuple[Any, Any, Any]],
    x0: Float[Array, " n"],
    lower: Float[Array, " n"],
    upper: Float[Array, " n"],
    *,
    iterations: int = 20,
    damping: float = 1e-3,
) -> tuple[Float[Array, " n"], Float[Array, ""]]:
    """`iterations` bounded LM steps on ½‖r‖² from x0; returns (x, cost).

    **Arguments:**
    - `evaluate`: ``evaluate(x) -> (cost, JᵀJ, Jᵀr)``.
    - `x0`, `lower`, `upper`: start and box (n,), the start inside the box.
    - `iterations`: fixed number of steps; `damping`: initial λ.
    """
    x0 = jnp.asarray(x0, dtype=jnp.float64)
    lower = jnp.broadcast_to(jnp.asarray(lower, dtype=jnp.float64), x0.shape)
    upper = jnp.broadcast_to(jnp.asarray(upper, dtype=jnp.float64), x0.shape)
    span = jnp.where(jnp.isfinite(upper - lower), upper - lower, 1.0)
    lo_in, hi_in = lower + 1e-10 * span, upper - 1e-10 * span

    def body(_, carry):
        x, cost, jtj, g, lam = carry
        d = jnp.maximum(jnp.diag(jtj), 1e-300)
        step = -jnp.linalg.solve(jtj + lam * jnp.diag(d), g)
        x_new = jnp.clip(x + jnp.where(jnp.isfinite(step), step, 0.0), lo_in, hi_in)
        cost_new, jtj_new, g_new = evaluate(x_new)
        ok = jnp.isfinite(cost_new) & (cost_new < cost)
        pick = lambda new, old: jnp.where(ok, new, old)  # noqa: E731
        return (pick(x_new, x), pick(cost_new, cost), pick(jtj_new, jtj), pick(g_new, g),
                jnp.where(ok, lam / 3.0, lam * 4.0))

    cost, jtj, g = evaluate(x0)
    carry = (x0, cost, jtj, g, jnp.asarray(damping, dtype=jnp.float64))
    x, cost, *_ = lax.fori_loop(0, int(iterations), body, carry)
    return x, jnp.where(jnp.isfinite(cost), cost, jnp.inf)

