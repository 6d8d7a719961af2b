"""The weighted c2 data of an in-memory fit, flattened per angle over the (t1, t2) pairs it
holds (`pairs`) and padded to whole chunks: what every structured data pass reads."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..physics.g2 import N_PHYSICAL
from .pairs import chunk_shape, flat_pairs, n_pairs


class GridProblem(eqx.Module):
    """Weighted c2 data flattened per angle over (t1, t2) pairs, padded to whole chunks.

    `weight` = mask/σ² is zero on the diagonal t1 == t2 and on padding. With `index` the
    pairs are those of the grid points t[index] only (a subsampled problem; the model's
    integrals still run over the full grid t). With `upper` the pairs are those with
    t1 < t2 only (exactly symmetric data: each independent value once, no diagonal).
    """

    g2: Float[Array, "n_phi P"]
    weight: Float[Array, "n_phi P"]
    t: Float[Array, " n_t"]
    phi: Float[Array, " n_phi"]
    q: Float[Array, ""]
    L: Float[Array, ""]
    mode: str = eqx.field(static=True)
    convention: str = eqx.field(static=True)
    chunk_size: int = eqx.field(static=True)
    index: Int[Array, " m"] | None = None
    loss: str = eqx.field(static=True, default="linear")
    f_scale: Float[Array, ""] | float = 1.0
    upper: bool = eqx.field(static=True, default=False)

    def with_loss(self, loss: str, f_scale) -> GridProblem:
        """The same data with a robust loss (static name) and its f_scale (in σ)."""
        return dataclasses.replace(self, loss=loss,
                                   f_scale=jnp.asarray(f_scale, dtype=self.g2.dtype))

    @property
    def n_chunks(self) -> int:
        return self.g2.shape[1] // self.chunk_size

    @property
    def n_full(self) -> int:
        return 2 * self.phi.shape[0] + N_PHYSICAL[self.mode]


def make_grid_problem(
    g2, sigma, t, phi, q, L, *, mode: str, convention: str, chunk_pairs: int | None = None,
    chunk_multiple: int = 1, index=None, pairs: str = "all",
) -> GridProblem:
    """Flatten c2 (n_phi, n_t, n_t) and σ into a `GridProblem` with chunks of `chunk_pairs` pairs.

    `pairs`: "all" (n_t² pairs, the diagonal at weight 0) or "upper" (the n_t(n_t−1)/2 pairs
    t1 < t2: for exactly symmetric c2 and σ, whose other triangle repeats them).
    `chunk_pairs=None` uses one chunk holding all pairs (no padding); the number of
    chunks is padded up to a multiple of `chunk_multiple` (e.g. the number of devices).
    `index` (grid points) keeps only the pairs among t[index].
    """
    if index is not None:  # gather with the input's own indexing: a memory map reads only these
        xp = jnp if isinstance(g2, jax.Array) else np
        sigma = xp.broadcast_to(xp.asarray(sigma, dtype=np.float64), g2.shape)
        g2, sigma = (a[:, index][:, :, index] for a in (g2, sigma))
        index = jnp.asarray(index)
    g2 = jnp.asarray(g2)
    sigma = jnp.broadcast_to(jnp.asarray(sigma, dtype=g2.dtype), g2.shape)
    n_t = g2.shape[1]
    count, upper = n_pairs(n_t, pairs), pairs == "upper"
    size, n_chunks = chunk_shape(count, chunk_pairs, chunk_multiple)
    pad = n_chunks * size - count
    off_diag = flat_pairs(1.0 - jnp.eye(n_t, dtype=g2.dtype), upper)[None, :]
    weight = off_diag / flat_pairs(sigma, upper) ** 2
    return GridProblem(
        g2=jnp.pad(flat_pairs(g2, upper), ((0, 0), (0, pad))),
        weight=jnp.pad(weight, ((0, 0), (0, pad))),
        t=jnp.asarray(t),
        phi=jnp.asarray(phi),
        q=jnp.asarray(q, dtype=g2.dtype),
        L=jnp.asarray(L, dtype=g2.dtype),
        mode=mode,
        convention=convention,
        chunk_size=size,
        index=index,
        upper=upper,
    )
