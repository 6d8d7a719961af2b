"""Differentiable fit solve in free coordinates (implicit function theorem; see
`solvers.implicit`). Gradients reach the data arrays of the problem (g2, weight, t, phi,
q, L) and the reparameterisation offset b; the start and the bounds get zero."""

from __future__ import annotations

from ..solvers.implicit import implicit_argmin
from ..solvers.trust_region import trust_region_solve
from .strategies import free_normal_equations


def implicit_solve(problem, A, b, lower, upper, z0, settings: tuple):
    """Trust-region fit of `problem` from z0; `settings` = (ftol, xtol, gtol, max_nfev)."""
    ftol, xtol, gtol, max_nfev = settings

    def solve(args):
        problem_, A_, b_, lower_, upper_, z0_ = args
        return trust_region_solve(free_normal_equations, z0_, lower_, upper_,
                                  args=(problem_, A_, b_), ftol=ftol, xtol=xtol, gtol=gtol,
                                  max_nfev=max_nfev, x_scale="jac")

    def gradient(z, args):
        problem_, A_, b_, *_ = args
        return free_normal_equations(z, problem_, A_, b_)[2]

    return implicit_argmin(solve, gradient, (problem, A, b, lower, upper, z0))
