"""Host-streamed least-squares sums for data that do not fit in device memory.

The data stay in host memory (a NumPy array or a memory-mapped .npy file) and are moved
to the device one chunk at a time; a jitted chunk kernel returns partial sums (cost, JᵀJ,
Jᵀr) that are added on the device. `streamed_evaluate` wraps such a host pass with
`jax.pure_callback` so the unchanged trust-region solver (`trust_region_solve`) can drive
it: only the way the sums are formed differs from the in-memory strategies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


def streamed_sums(
    chunk_sums: Callable[[int], Any], n_chunks: int, *, on_chunk: Callable[[int], None] | None = None
) -> Any:
    """Add the pytrees ``chunk_sums(k)`` for k = 0..n_chunks−1 in a host loop.

    `chunk_sums` moves chunk k to the device and returns its partial sums; only one
    chunk's arrays are alive at a time (plus the running totals).
    """
    if n_chunks < 1:
        raise ValueError(f"n_chunks: must be >= 1, got {n_chunks!r}")
    total = None
    for k in range(n_chunks):
        part = chunk_sums(k)
        total = part if total is None else jax.tree.map(jnp.add, total, part)
        if on_chunk is not None:
            on_chunk(k)
    return total


def streamed_evaluate(
    host_pass: Callable[[np.ndarray], tuple[Any, Any, Any]], n: int
) -> Callable[[Float[Array, " n"]], tuple]:
    """A jittable ``evaluate(x) -> (cost, JᵀJ, Jᵀr)`` that runs `host_pass` on the host.

    `host_pass(x)` receives x as a NumPy array and returns the three sums (any arrays).
    The result can be passed to `trust_region_solve` like an in-memory evaluate.
    """
    shapes = (
        jax.ShapeDtypeStruct((), jnp.float64),
        jax.ShapeDtypeStruct((n, n), jnp.float64),
        jax.ShapeDtypeStruct((n,), jnp.float64),
    )

    def host(x):
        cost, jtj, jtr = host_pass(np.asarray(x))
        return (np.asarray(cost, dtype=np.float64), np.asarray(jtj, dtype=np.float64),
                np.asarray(jtr, dtype=np.float64))

    def evaluate(x, *args):
        return jax.pure_callback(host, shapes, x)

    return evaluate
