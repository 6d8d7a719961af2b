"""The objective interface: sums of ½‖r‖², JᵀJ and Jᵀr over the fitted points.

An objective is an `equinox.Module`. In-memory objectives are pytrees of device arrays, so
they pass through `jax.jit`, `jax.vmap` and `jax.grad`; a streamed objective holds host
data and forms its sums in a host loop (`traceable = False`). Transforms (`transforms.py`)
wrap any objective and keep the interface, so the solver, the defense layers and the
recovery loop never ask which kind they hold.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
from jaxtyping import Array, Float

Sums = tuple[Float[Array, ""], Float[Array, "k k"], Float[Array, " k"]]


class AbstractObjective(eqx.Module):
    """½‖r(x)‖² and its Gauss–Newton sums in the objective's own coordinates x."""

    traceable: ClassVar[bool] = True

    @abc.abstractmethod
    def sums(self, x: Float[Array, " k"]) -> Sums:
        """(cost, JᵀJ, Jᵀr) at x: one pass over the data."""

    @abc.abstractmethod
    def cost(self, x: Float[Array, " k"]) -> Float[Array, ""]:
        """½‖r‖² at x (a pass without derivatives where the objective has one)."""

    @abc.abstractmethod
    def weighted(self, w: Float[Array, " n_phi"]) -> AbstractObjective:
        """The objective with each angle's residual rows multiplied by w (n_phi,)."""

    @property
    @abc.abstractmethod
    def n_chunks(self) -> int:
        """Chunks one pass is formed from."""

    def value_and_grad(self, x):
        """(½‖r‖², Jᵀr) at x."""
        cost, _, grad = self.sums(x)
        return cost, grad
