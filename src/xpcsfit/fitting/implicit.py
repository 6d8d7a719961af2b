"""Differentiable fits: the solution's sensitivities by the implicit function theorem.

At a solution z* of min_z ½‖r(z, θ)‖² the free components satisfy g(z*, θ) = ∇_z cost = 0.
Differentiating, H·dz* = −∂g/∂θ·dθ with H = ∇²_z cost (the exact Hessian, including the
residual-curvature term, so sensitivities are exact even for noisy data). The backward
pass solves one k×k system with H restricted to the free (not-at-bound) components and
pulls the result back through g with one reverse-mode pass over the data; parameters at
an active bound get zero sensitivity. The iterations themselves are never differentiated.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .strategies import free_normal_equations
from .structured import GridProblem


def _gradient(z, problem, A, b):
    return free_normal_equations(z, problem, A, b)[2]


def _solve_raw(problem, A, b, lower, upper, z0, settings):
    from ..solvers.trust_region import trust_region_solve

    ftol, xtol, gtol, max_nfev = settings
    return trust_region_solve(
        free_normal_equations, z0, lower, upper, args=(problem, A, b), ftol=ftol, xtol=xtol,
        gtol=gtol, max_nfev=max_nfev, x_scale="jac",
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(6,))
def implicit_solve(
    problem: GridProblem,
    A: Float[Array, "n k"],
    b: Float[Array, " n"],
    lower: Float[Array, " k"],
    upper: Float[Array, " k"],
    z0: Float[Array, " k"],
    settings: tuple,
):
    """Solve the fit in free coordinates; returns the solver result (differentiable in x).

    `settings` = (ftol, xtol, gtol, max_nfev) is static. Gradients flow to the data arrays
    of `problem` (g2, weight, t, phi, q, L) and to `b` through the implicit function
    theorem; the start z0 and the bounds get zero cotangents.
    """
    return _solve_raw(problem, A, b, lower, upper, z0, settings)


def _fwd(problem, A, b, lower, upper, z0, settings):
    res = _solve_raw(problem, A, b, lower, upper, z0, settings)
    return res, (res.x, res.active_mask, problem, A, b, lower, upper, z0)


def _bwd(settings, saved, cotangent):
    z, active, problem, A, b, lower, upper, z0 = saved
    z_bar = cotangent.x
    free = (active == 0).astype(z.dtype)
    hess = jax.jacfwd(_gradient)(z, problem, A, b)
    hess = 0.5 * (hess + hess.T)
    # Restrict to the free set: identity rows/cols for components at a bound.
    masked = hess * free[:, None] * free[None, :] + jnp.diag(1.0 - free)
    v = jnp.linalg.solve(masked, z_bar * free) * free
    _, pull = jax.vjp(lambda p, bb: _gradient(z, p, A, bb), problem, b)
    p_bar, b_bar = pull(-v)
    zeros = jax.tree.map(jnp.zeros_like, (A, lower, upper, z0))
    return (p_bar, zeros[0], b_bar, zeros[1], zeros[2], zeros[3])


implicit_solve.defvjp(_fwd, _bwd)
