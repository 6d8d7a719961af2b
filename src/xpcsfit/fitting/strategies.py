"""Strategy executors: one compiled trust-region solve over the structured data pass.

STANDARD and OUT_OF_CORE minimise the same objective with the same step code; they differ
in how the sums over points are formed: STANDARD uses cache-sized chunks of the
in-memory data, OUT_OF_CORE bounds the chunk memory explicitly and reports progress per
iteration. The full Jacobian is never formed by either.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..solvers.separable import separable_solve
from ..solvers.trust_region import trust_region_solve
from .defense.cv_penalty import cv_penalty_rows, with_penalty
from .defense.shear_weights import apply_angle_weights
from .sharded import shard_problem, sharded_normal_equations
from .structured import GridProblem, normal_equations

DEFAULT_CHUNK_POINTS = 65_536
"""Points (all angles together) per chunk of the data pass: measured fastest on a 2-core CPU
(the per-chunk derivative rows stay in cache); the memory held per chunk is
≈ (2 + p + 4)·8 B per point, ~6 MB for laminar flow."""


def chunk_pairs_for(n_phi: int, chunk_points: int | None) -> int:
    """Pairs (t1, t2) per chunk so that a chunk holds about `chunk_points` points."""
    points = DEFAULT_CHUNK_POINTS if chunk_points is None else int(chunk_points)
    return max(1, -(-points // max(1, n_phi)))


def free_normal_equations(
    z: Float[Array, " k"],
    problem: GridProblem,
    A: Float[Array, "n k"],
    b: Float[Array, " n"],
    mesh=None,
):
    """Cost, JᵀJ and Jᵀr in the free coordinates z of a linear reparameterisation x = A z + b
    (summed across the devices of `mesh` when given)."""
    x = A @ z + b
    if mesh is None:
        cost, jtj, jtr = normal_equations(x, problem)
    else:
        cost, jtj, jtr = sharded_normal_equations(x, problem, mesh)
    return cost, A.T @ jtj @ A, A.T @ jtr


@functools.partial(
    jax.jit,
    static_argnames=("ftol", "xtol", "gtol", "max_nfev", "callback", "mesh", "penalty",
                     "monitor", "separable"),
)
def solve_grid(
    problem: GridProblem,
    A: Float[Array, "n k"],
    b: Float[Array, " n"],
    lower: Float[Array, " k"],
    upper: Float[Array, " k"],
    z0: Float[Array, " k"],
    *,
    ftol: float,
    xtol: float,
    gtol: float,
    max_nfev: int | None,
    callback: Callable | None = None,
    mesh=None,
    penalty: tuple | None = None,
    monitor: tuple | None = None,
    separable: bool = False,
):
    """Bounded trust-region solve of the c2 fit in free coordinates (one compiled function).

    Compiled once per (shapes, mode, convention, chunking, tolerances); new data of the
    same shapes reuse it. `penalty` = (λ, MSE, n_points, n_phi) adds the L3 CV rows;
    `monitor` = (split, threshold, patience) runs the L4 gradient monitor in the loop.
    `separable=True` (per_angle_mode varpro; identity map, full layout) eliminates the
    2·n_phi contrast/offset values by variable projection (`solvers.separable`): the solve
    runs over the physical parameters; z0's contrast/offset are the linear pass's
    reference and their bounds are not used (see `fitting/varpro.py`).
    """
    if separable:
        m = 2 * problem.phi.shape[0]
        return separable_solve(free_normal_equations, z0[:m], z0[m:], lower[m:], upper[m:],
                               args=(problem, A, b, mesh), ftol=ftol, xtol=xtol, gtol=gtol,
                               max_nfev=max_nfev, x_scale="jac", callback=callback)
    evaluate = free_normal_equations
    if penalty is not None:
        lam, mse, n_points, n_phi = penalty
        evaluate = with_penalty(
            free_normal_equations,
            lambda z: cv_penalty_rows(A @ z + b, n_phi, lam=lam, mse=mse, n_points=n_points))
    return trust_region_solve(
        evaluate,
        z0,
        lower,
        upper,
        args=(problem, A, b, mesh),
        ftol=ftol,
        xtol=xtol,
        gtol=gtol,
        max_nfev=max_nfev,
        x_scale="jac",
        callback=callback,
        monitor=monitor,
    )


@functools.partial(jax.jit, static_argnames="mesh")
def cost_at(z, problem: GridProblem, A, b, mesh=None) -> Float[Array, ""]:
    """½‖r‖² at z (one data pass, compiled once per shape)."""
    return free_normal_equations(jnp.asarray(z), problem, A, b, mesh)[0]


_free_sums = jax.jit(free_normal_equations, static_argnames="mesh")


@dataclasses.dataclass(frozen=True)
class GridObjective:
    """The in-memory objective (STANDARD, OUT_OF_CORE, multi-device) in free coordinates z
    of x = A z + b. `StreamObjective` (hybrid.py) has the same methods, so the defense
    layers and the recovery loop run unchanged on every strategy."""

    problem: GridProblem
    A: Float[Array, "n k"]
    b: Float[Array, " n"]
    tolerances: dict[str, Any]
    callback: Callable | None = None
    mesh: Any = None

    @property
    def phi(self) -> np.ndarray:
        return np.asarray(self.problem.phi)

    @property
    def n_chunks(self) -> int:
        return self.problem.n_chunks

    def weighted(self, w) -> GridObjective:
        """The objective with each angle's residual rows multiplied by w (n_phi,)."""
        problem = eqx.tree_at(lambda p: p.weight, self.problem,
                              apply_angle_weights(self.problem.weight, jnp.asarray(w)))
        if self.mesh is not None:
            problem = shard_problem(problem, self.mesh)
        return dataclasses.replace(self, problem=problem)

    def sums(self, z):
        """(cost, JᵀJ, Jᵀr) in z coordinates (one data pass)."""
        return _free_sums(jnp.asarray(z), self.problem, self.A, self.b, self.mesh)

    def value_and_grad(self, z) -> tuple[float, np.ndarray]:
        cost, _, jtr = self.sums(z)
        return float(cost), np.asarray(jtr)

    def cost(self, z) -> float:
        return float(cost_at(jnp.asarray(z), self.problem, self.A, self.b, self.mesh))

    def solve(self, z0, lower, upper, *, penalty=None, monitor=None):
        """The compiled trust-region solve (`solve_grid`) from z0 within [lower, upper]."""
        return solve_grid(self.problem, self.A, self.b, jnp.asarray(lower), jnp.asarray(upper),
                          jnp.asarray(z0), callback=self.callback, mesh=self.mesh,
                          penalty=penalty, monitor=monitor, **self.tolerances)

    def solve_separable(self, z0, lower, upper):
        """per_angle_mode varpro: contrast/offset eliminated (`fitting/varpro.py`); needs the
        identity map (z = x, full layout)."""
        return solve_grid(self.problem, self.A, self.b, jnp.asarray(lower), jnp.asarray(upper),
                          jnp.asarray(z0), callback=self.callback, mesh=self.mesh,
                          separable=True, **self.tolerances)
