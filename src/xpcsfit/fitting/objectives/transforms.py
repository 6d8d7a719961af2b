"""Transforms of an objective that keep the interface: the per-angle (and fixed-parameter)
affine map, the CV penalty rows, and variable projection of the per-angle values.

Each wraps an inner objective and changes only coordinates or sums, so it works on every
strategy, traced or on the host.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ...solvers.separable import linear_solution, project
from ..defense.cv_penalty import cv_penalty_rows
from .base import AbstractObjective, Sums


class Affine(AbstractObjective):
    """The inner objective in free coordinates z of x = A z + b: sums (c, AᵀJᵀJA, AᵀJᵀr)."""

    inner: AbstractObjective
    A: Float[Array, "n k"]
    b: Float[Array, " n"]

    @property
    def traceable(self) -> bool:  # type: ignore[override]
        return self.inner.traceable

    def to_inner(self, z):
        return self.A @ jnp.asarray(z) + self.b

    def sums(self, z) -> Sums:
        cost, jtj, jtr = self.inner.sums(self.to_inner(z))
        return cost, self.A.T @ jnp.asarray(jtj) @ self.A, self.A.T @ jnp.asarray(jtr)

    def cost(self, z):
        return self.inner.cost(self.to_inner(z))

    def weighted(self, w) -> Affine:
        return Affine(self.inner.weighted(w), self.A, self.b)

    @property
    def n_chunks(self) -> int:
        return self.inner.n_chunks


class Penalised(AbstractObjective):
    """The inner (full-layout) objective plus the L3 CV rows; λ, MSE and n are data."""

    inner: AbstractObjective
    lam: Float[Array, ""]
    mse: Float[Array, ""]
    n_points: Float[Array, ""]
    n_phi: int = eqx.field(static=True)

    @property
    def traceable(self) -> bool:  # type: ignore[override]
        return self.inner.traceable

    def _rows(self, x):
        return cv_penalty_rows(x, self.n_phi, lam=self.lam, mse=self.mse, n_points=self.n_points)

    def sums(self, x) -> Sums:
        x = jnp.asarray(x)
        cost, jtj, jtr = self.inner.sums(x)
        r, J = self._rows(x), jax.jacfwd(self._rows)(x)
        return cost + 0.5 * jnp.dot(r, r), jtj + J.T @ J, jtr + J.T @ r

    def cost(self, x):
        r = self._rows(jnp.asarray(x))
        return self.inner.cost(x) + 0.5 * jnp.dot(r, r)

    def weighted(self, w) -> Penalised:
        return Penalised(self.inner.weighted(w), self.lam, self.mse, self.n_points, self.n_phi)

    @property
    def n_chunks(self) -> int:
        return self.inner.n_chunks


class Separable(AbstractObjective):
    """Variable projection: the inner objective over (ℓ, θ) with the first `n_linear`
    values ℓ eliminated exactly (`solvers.separable`); coordinates θ, Kaufman's Gram.
    Each evaluation is two inner passes; `cost` is one linear pass plus a cost pass."""

    inner: AbstractObjective
    l_ref: Float[Array, " m"]
    n_linear: int = eqx.field(static=True)

    @property
    def traceable(self) -> bool:  # type: ignore[override]
        return self.inner.traceable

    def _evaluate(self, x):
        return self.inner.sums(x)

    def expand(self, theta):
        """(ℓ*(θ), θ): the full vector at which the inner objective is profiled."""
        theta = jnp.asarray(theta)
        l_star = linear_solution(self._evaluate, self.n_linear, theta, self.l_ref)
        return jnp.concatenate([l_star, theta])

    def sums(self, theta) -> Sums:
        return project(self._evaluate, self.n_linear)(jnp.asarray(theta), self.l_ref)

    def cost(self, theta):
        return self.inner.cost(self.expand(theta))

    def weighted(self, w) -> Separable:
        return Separable(self.inner.weighted(w), self.l_ref, self.n_linear)

    @property
    def n_chunks(self) -> int:
        return self.inner.n_chunks
