"""One solve of an objective, and the control flow that runs traced or on the host.

In-memory objectives are solved by the compiled `trust_region_solve` (inside the fit's
jitted pipeline); streamed ones by `trust_region_solve_host` with the same step code.
`while_loop` and `cond` use `lax` when their predicate is traced and plain Python when it
is concrete (the host pipeline of a streamed fit), so the run is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ..solvers.trust_region import SolverResult, trust_region_solve, trust_region_solve_host
from .objectives.base import AbstractObjective


def _concrete(value) -> bool:
    return not isinstance(value, jax.core.Tracer)


def while_loop(cond: Callable, body: Callable, carry: Any, *, traced: bool) -> Any:
    """`lax.while_loop` when traced, else a Python loop (same semantics)."""
    if traced:
        return lax.while_loop(cond, body, carry)
    while bool(cond(carry)):
        carry = body(carry)
    return carry


def cond(pred, true_fn: Callable, false_fn: Callable) -> Any:
    """`lax.cond` for a traced predicate, a Python branch for a concrete one."""
    if _concrete(pred):
        return true_fn() if bool(pred) else false_fn()
    return lax.cond(pred, true_fn, false_fn)


def z_scale(x_scale, A) -> Any:
    """The solver's x_scale in free coordinates z of x = A z + b: "jac", or for each column
    of A the full-layout scale of the entries it moves, weighted by |A| (exact for the
    selection maps of individual mode and fixed parameters)."""
    if isinstance(x_scale, str):
        return x_scale
    weights = jnp.abs(A)
    s = jnp.asarray(x_scale, dtype=jnp.float64)
    return (weights.T @ s) / jnp.maximum(jnp.sum(weights, axis=0), 1e-300)


def solve(objective: AbstractObjective, z0, lower, upper, *, ftol: float, xtol: float,
          gtol: float, max_nfev: int | None, x_scale: Any = "jac", observer=None,
          callback: Callable | None = None) -> SolverResult:
    """Bounded trust-region solve of `objective` from z0 (compiled or host-driven)."""
    kw = dict(ftol=ftol, xtol=xtol, gtol=gtol, max_nfev=max_nfev, x_scale=x_scale,
              observer=observer, callback=callback)
    if objective.traceable:
        return trust_region_solve(lambda z: objective.sums(z), jnp.asarray(z0),
                                  jnp.asarray(lower), jnp.asarray(upper), **kw)
    return trust_region_solve_host(objective.sums, z0, lower, upper, **kw)
