"""Which (t1, t2) pairs a host fit holds (in memory or streamed), and how they are cut
into chunks.

Measured c2 is symmetric in (t1, t2): an exactly symmetric matrix (c2 and σ) holds each
independent value twice, so the fit keeps only the pairs t1 < t2 ("upper"): every pass
costs half, and cost, JᵀJ and Jᵀr are those of the independent points (covariance and χ²
need no correction). Other data keep all n_t² pairs ("all"; the diagonal t1 == t2 has
weight 0). Pairs are flattened row-major, i·n_t + j, in both layouts.
"""

from __future__ import annotations

import functools

import numpy as np
from jaxtyping import Array, Float

PAIRS = ("all", "upper")


@functools.lru_cache(maxsize=16)
def upper_pairs(n: int) -> np.ndarray:
    """Flat indices i·n + j of the pairs i < j of an (n, n) grid, row-major (static)."""
    i, j = np.triu_indices(n, 1)
    out = (i * n + j).astype(np.int32)
    out.flags.writeable = False
    return out


def flat_pairs(matrix: Float[Array, "... m m"], upper: bool) -> Float[Array, "... P"]:
    """A (…, m, m) array flattened over its pairs: all m² (row-major) or those with i < j."""
    flat = matrix.reshape(*matrix.shape[:-2], -1)
    return flat[..., upper_pairs(int(matrix.shape[-1]))] if upper else flat


def n_pairs(n_t: int, pairs: str) -> int:
    """Pairs held: n_t² ("all", diagonal included at weight 0) or n_t(n_t − 1)/2 ("upper")."""
    if pairs not in PAIRS:
        raise ValueError(f"pairs: expected one of {PAIRS}, got {pairs!r}")
    return n_t * (n_t - 1) // 2 if pairs == "upper" else n_t * n_t


def fitted_pairs(n_t: int, pairs: str) -> int:
    """Pairs with weight (the diagonal excluded): n_t(n_t − 1), or half of it for "upper"."""
    return n_t * (n_t - 1) // (2 if pairs == "upper" else 1)


def chunk_shape(n: int, chunk_pairs: int | None, chunk_multiple: int = 1) -> tuple[int, int]:
    """(pairs per chunk, chunks) for `n` pairs: chunks of `chunk_pairs` (None: one chunk of
    all), their count padded up to a multiple of `chunk_multiple` (e.g. the devices)."""
    size = n if chunk_pairs is None else max(1, min(int(chunk_pairs), n))
    n_chunks = -(-n // size)
    return size, -(-n_chunks // chunk_multiple) * chunk_multiple
