"""Implicit differentiation of a bounded least-squares solution.

At a solution x* of min ½‖r(x, a)‖², the free components satisfy g(x*, a) = ∇ₓcost = 0,
so H·dx* = −∂g/∂a·da with H = ∇²ₓcost (exact Hessian by forward-mode differentiation of
g, so the sensitivities hold for non-zero residuals too). Components at an active bound
get zero sensitivity. The rule is a custom JVP that is linear in the tangents, so JAX
derives reverse mode (grad, jacrev, vjp) by transposition and forward mode (jvp, jacfwd)
directly. The solver's iterations are never differentiated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def implicit_argmin(solve: Callable[[Any], Any], gradient: Callable[[Any, Any], Any], args: Any):
    """``solve(args)`` — a result with fields `x` and `active_mask` — made differentiable.

    **Arguments:**
    - `solve`: args → solver result (x*, active_mask, …); called once, not differentiated.
    - `gradient`: (x, args) → ∇ₓ cost; differentiated at the solution only.
    - `args`: pytree of everything the solution depends on (data, start, bounds…); the
      start and bounds get zero sensitivity because `gradient` does not read them.

    **Returns:** the solver result; only its `x` carries derivatives (other fields have
    zero tangents).
    """
    return solve(args)


def _zero_tangent(leaf):
    leaf = jnp.asarray(leaf)
    if jnp.issubdtype(leaf.dtype, jnp.inexact):
        return jnp.zeros_like(leaf)
    return np.zeros(leaf.shape, dtype=jax.dtypes.float0)


@implicit_argmin.defjvp
def _jvp(solve, gradient, primals, tangents):
    (args,), (dargs,) = primals, tangents
    res = solve(args)
    x = jax.lax.stop_gradient(res.x)
    free = (res.active_mask == 0).astype(x.dtype)
    hess = jax.jacfwd(gradient)(x, jax.lax.stop_gradient(args))
    hess = 0.5 * (hess + hess.T)
    masked = hess * free[:, None] * free[None, :] + jnp.diag(1.0 - free)
    _, dg = jax.jvp(lambda a: gradient(x, a), (jax.lax.stop_gradient(args),), (dargs,))
    dx = -jnp.linalg.solve(masked, dg * free) * free
    tangent = jax.tree.map(_zero_tangent, res)
    tangent = type(res)(**{**{f: getattr(tangent, f) for f in res.__dataclass_fields__}, "x": dx})
    return res, tangent
