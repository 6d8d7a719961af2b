"""L2: hierarchical optimisation — alternate solves of the physical and per-angle blocks.

Each stage holds the other block at its current value and solves its own block with the
trust-region solver on the same objective (the block is a column selection, an `Affine`
map); rounds stop when the physical block's relative change falls below `rtol`, or after
`max_rounds`. DESIGN §6 names L-BFGS for the stages: at the Gram formulation's one pass
per iteration, a block Gauss–Newton solve converges in a handful of passes where L-BFGS
needs hundreds (homodyne's laminar template took 1,160 s at 0.92M points with L-BFGS
stages), so the stages are trust-region solves with the same iteration caps.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from ..objectives.transforms import Affine


def block_solve(solve: Callable, objective, z, lower, upper, block: np.ndarray, max_nfev: int):
    """Solve only z[block] (the rest held); returns the new z."""
    k = z.shape[0]
    select = jnp.eye(k)[:, block]
    held = z * jnp.asarray(np.isin(np.arange(k), block, invert=True), dtype=z.dtype)
    res = solve(Affine(objective, select, held), z[block], lower[block], upper[block],
                max_nfev=max_nfev)
    return held + select @ res.x


def hierarchical_solve(solve: Callable, objective, z0, lower, upper, physical: np.ndarray,
                       per_angle: np.ndarray, *, loop: Callable, max_rounds: int = 5,
                       physical_iterations: int = 100, per_angle_iterations: int = 50,
                       rtol: float = 1e-6):
    """Alternating block solves from z0; returns (z, rounds run, last relative change).

    `solve(objective, z0, lower, upper, max_nfev=…)` is the fit's solve; `loop` its
    `while_loop` (traced or host)."""

    def body(carry):
        z, rounds, _ = carry
        before = z[physical]
        z = block_solve(solve, objective, z, lower, upper, physical, physical_iterations)
        z = block_solve(solve, objective, z, lower, upper, per_angle, per_angle_iterations)
        change = jnp.linalg.norm(z[physical] - before) / jnp.maximum(
            jnp.linalg.norm(before), 1e-300)
        return z, rounds + 1, change

    start = (jnp.asarray(z0), jnp.asarray(0), jnp.asarray(jnp.inf))
    return loop(lambda c: (c[1] < max_rounds) & (c[2] >= rtol), body, start)
