"""The in-memory objective: c2 on the device, chunked structured passes (STANDARD and
OUT_OF_CORE are this one object with different chunk sizes), optionally sharded over a
device mesh."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from ..defense.shear_weights import apply_angle_weights
from ..grid import GridProblem
from ..sharded import shard_problem, sharded_normal_equations
from ..structured import constant_cost, grid_cost, grid_profile, normal_equations
from .base import AbstractObjective, Sums


class InMemory(AbstractObjective):
    """Sums over a `GridProblem` (full layout x = [c…, o…, physical…])."""

    problem: GridProblem
    mesh: Any = eqx.field(static=True, default=None)

    def sums(self, x) -> Sums:
        x = jnp.asarray(x)
        if self.mesh is None:
            return normal_equations(x, self.problem)
        return sharded_normal_equations(x, self.problem, self.mesh)

    def cost(self, x):
        if self.mesh is None:
            return grid_cost(jnp.asarray(x), self.problem)
        return self.sums(x)[0]

    def weighted(self, w) -> InMemory:
        problem = eqx.tree_at(lambda p: p.weight, self.problem,
                              apply_angle_weights(self.problem.weight, jnp.asarray(w)))
        if self.mesh is not None:
            problem = shard_problem(problem, self.mesh)
        return InMemory(problem, self.mesh)

    def profile(self, physical):
        """(cost, contrast, offset) of the exact per-angle optimum at these physical values
        (one pass without derivatives; linear loss)."""
        return grid_profile(jnp.asarray(physical), self.problem)

    def constant_cost(self):
        """½χ² of the per-angle constant model c2 = offset_a (no signal; linear loss)."""
        return constant_cost(self.problem)

    def with_loss(self, loss: str, f_scale=1.0) -> InMemory:
        """The same data under another loss (e.g. "linear" for the raw χ²)."""
        return InMemory(self.problem.with_loss(loss, f_scale), self.mesh)

    @property
    def n_chunks(self) -> int:
        return self.problem.n_chunks

    @property
    def phi(self):
        return self.problem.phi
