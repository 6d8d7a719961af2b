"""Implicit differentiation of a bounded least-squares solution.

At a solution x* of min ½‖r(x, a)‖², the free components satisfy g(x*, a) = ∇ₓcost = 0,
so H·dx* = −∂g/∂a·da with H = ∇²ₓcost (exact Hessian by forward-mode differentiation of
g, so the sensitivities hold for non-zero residuals too). The backward pass solves one
system with H restricted to the free (not-at-bound) components — components at an active
bound get zero sensitivity — and pulls back through g with one reverse-mode pass.
The solver's iterations are never differentiated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def implicit_argmin(solve: Callable[[Any], Any], gradient: Callable[[Any, Any], Any], args: Any):
    """``solve(args)`` — a result with fields `x` and `active_mask` — made differentiable.

    **Arguments:**
    - `solve`: args → solver result (x*, active_mask, …); called once, not differentiated.
    - `gradient`: (x, args) → ∇ₓ cost; differentiated at the solution only.
    - `args`: pytree of everything the solution depends on (data, start, bounds…);
      cotangents flow to it through `gradient` (start and bounds get zero).

    **Returns:** the solver result; only its `x` carries derivatives.
    """
    return solve(args)


def _fwd(solve, gradient, args):
    res = solve(args)
    return res, (res.x, res.active_mask, args)


def _bwd(solve, gradient, saved, cotangent):
    x, active, args = saved
    free = (active == 0).astype(x.dtype)
    hess = jax.jacfwd(gradient)(x, args)
    hess = 0.5 * (hess + hess.T)
    masked = hess * free[:, None] * free[None, :] + jnp.diag(1.0 - free)
    v = jnp.linalg.solve(masked, cotangent.x * free) * free
    _, pull = jax.vjp(lambda a: gradient(x, a), args)
    (args_bar,) = pull(-v)
    return (args_bar,)


implicit_argmin.defvjp(_fwd, _bwd)
