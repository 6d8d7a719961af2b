"""Chunked accumulation of least-squares sums with one `lax.scan`.

A chunk function returns a pytree of partial sums (cost, JᵀJ, Jᵀr, or any block form of
them); `accumulate` adds them over chunks ``k = 0..n_chunks−1``. Written as
init / update / finalize like optax's microbatching so that padding a chunk with
zero-weight rows provably changes nothing: only the chunk function sees the data.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, Int, PyTree

from .loss import robust_weights


def accumulate_init(chunk_fn: Callable[[Int[Array, ""]], PyTree]) -> PyTree:
    """Zero sums with the structure, shapes and dtypes `chunk_fn` returns."""
    shapes = jax.eval_shape(chunk_fn, jnp.zeros((), dtype=jnp.int32))
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def accumulate_update(sums: PyTree, partial: PyTree) -> PyTree:
    """Add one chunk's partial sums."""
    return jax.tree.map(jnp.add, sums, partial)


def accumulate(chunk_fn: Callable[[Int[Array, ""]], PyTree], n_chunks: int) -> PyTree:
    """Sum ``chunk_fn(k)`` over k = 0..n_chunks−1 with `lax.scan` (one pass over the data).

    **Arguments:**
    - `chunk_fn`: maps a chunk index (int32 scalar) to a pytree of partial sums; it is
      traced once, so every chunk must have the same (padded) shape.
    - `n_chunks`: static number of chunks (≥ 1). With one chunk no loop is emitted.

    **Returns:** the pytree of totals.
    """
    if n_chunks < 1:
        raise ValueError(f"n_chunks: must be >= 1, got {n_chunks!r}")
    if n_chunks == 1:
        return chunk_fn(jnp.zeros((), dtype=jnp.int32))

    def body(sums, k):
        return accumulate_update(sums, chunk_fn(k)), None

    sums, _ = lax.scan(body, accumulate_init(chunk_fn), jnp.arange(n_chunks, dtype=jnp.int32))
    return sums


def gram_from_rows(
    rows: Float[Array, "batch k m"], weights: Float[Array, "batch m"], resid: Float[Array, "batch m"],
    *, loss: str = "linear", f_scale: float | Array = 1.0,
) -> tuple[Float[Array, ""], Float[Array, "batch k k"], Float[Array, "batch k"]]:
    """Weighted Gram blocks of row-major derivative rows, batched.

    For each batch member b: ``G_b = Σ_m w·v vᵀ``, ``h_b = Σ_m w·v·ρ`` and the total
    ``½ Σ w·ρ²`` where v = rows[b, :, m] and ρ = resid[b, m].

    With a robust `loss` (static name) and `f_scale` C, the same pass applies scipy's
    rescaling point by point (see `solvers.loss.robust_weights`, z = w·ρ²/C²):
    ``G_b = Σ w·max(ρ'+2zρ'', eps)·v vᵀ``, ``h_b = Σ w·ρ'·v·ρ`` and ``½ Σ C²·ρ_loss(z)``.
    `loss="linear"` is the original computation, operation for operation.
    """
    if loss == "linear":
        weighted = rows * weights[:, None, :]
        gram = jnp.einsum("bkm,blm->bkl", weighted, rows)
        moment = jnp.einsum("bkm,bm->bk", weighted, resid)
        cost = 0.5 * jnp.sum(weights * resid * resid)
        return cost, gram, moment
    cost_terms, gram_weights, moment_weights = robust_weights(resid, loss, f_scale, weights)
    gram, moment = split_gram_from_rows(rows, gram_weights, moment_weights, resid)
    return 0.5 * jnp.sum(cost_terms), gram, moment


def split_gram_from_rows(
    rows: Float[Array, "batch k m"], gram_weights: Float[Array, "batch m"],
    moment_weights: Float[Array, "batch m"], resid: Float[Array, "batch m"],
) -> tuple[Float[Array, "batch k k"], Float[Array, "batch k"]]:
    """``G_b = Σ_m a·v vᵀ`` and ``h_b = Σ_m c·v·ρ`` with separate weights a (Gram), c (moment)."""
    gram = jnp.einsum("bkm,blm->bkl", rows * gram_weights[:, None, :], rows)
    moment = jnp.einsum("bkm,bm->bk", rows, moment_weights * resid)
    return gram, moment
