"""The streamed objective: c2 kept on the host (a NumPy array or memory map, or whatever
array the data hold), moved to the device one chunk of pairs at a time.

Device memory holds one chunk, the shared (t1, t2) pieces and O(n_params²) sums, whatever
the data size. Pairs are all n_t² (row-major, the diagonal at weight 0) or, for exactly
symmetric c2 and σ, only t1 < t2 (`pairs="upper"`, see `fitting.pairs`): a chunk is then a
range of the upper-pair index, read as the rows of the host array that hold it and gathered
on the host, so each pass reads and computes half. Each pass is a host loop over chunks
(`solvers.streaming.streamed_sums`) of jitted chunk kernels, which compile once per chunk
shape; the solver drives it with `trust_region_solve_host`, so no compiled function holds
the data.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ...solvers.separable import linear_solution
from ...solvers.streaming import streamed_sums
from ..pairs import n_pairs, upper_pairs
from ..structured import assemble, chunk_cost, chunk_sums, model_pieces, value_pieces
from .base import AbstractObjective, Sums

DEFAULT_STREAM_CHUNK_POINTS = 50_000


@dataclasses.dataclass(frozen=True)
class HostData:
    """c2 and σ kept on the host, flattened per angle over (t1, t2) pairs (no copy for
    C-contiguous arrays or memory maps). `angle_weight` (n_phi,) multiplies each angle's
    data weights 1/σ² (the L5 shear weights squared); None means 1."""

    g2: np.ndarray  # (n_phi, n_t·n_t)
    sigma: np.ndarray | float  # same shape, or a scalar
    t: np.ndarray
    phi: np.ndarray
    q: float
    L: float
    angle_weight: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, g2, sigma, t, phi, q, L) -> HostData:
        """Views of g2 and σ (NumPy, memory map, or device arrays: none is copied)."""
        n_phi = g2.shape[0]
        flat = g2.reshape(n_phi, -1)
        if np.isscalar(sigma) or np.ndim(sigma) == 0:
            sig = float(sigma)
        elif isinstance(sigma, np.ndarray) and not any(sigma.strides):
            sig = float(sigma.flat[0])  # a broadcast scalar: keep it scalar
        else:
            sig = sigma.reshape(n_phi, -1)
        return cls(flat, sig, np.asarray(t, dtype=np.float64), np.asarray(phi, dtype=np.float64),
                   float(q), float(L))

    def weighted(self, w: np.ndarray) -> HostData:
        """The same data with each angle's residual rows multiplied by w (weights by w²)."""
        return dataclasses.replace(self, angle_weight=np.asarray(w, dtype=np.float64) ** 2)


_PIECES_STATIC = ("mode", "convention", "n_pad", "upper")


@functools.partial(jax.jit, static_argnames=_PIECES_STATIC)
def _pieces(x, t, phi, q, L, *, mode, convention, n_pad, upper):
    return model_pieces(x, t=t, phi=phi, q=q, L=L, mode=mode, convention=convention,
                        n_pad=n_pad, upper=upper)


@functools.partial(jax.jit, static_argnames=_PIECES_STATIC)
def _value_pieces(x, t, phi, q, L, *, mode, convention, n_pad, upper):
    return value_pieces(x, t=t, phi=phi, q=q, L=L, mode=mode, convention=convention,
                        n_pad=n_pad, upper=upper)


def _chunk_weight(start, stop, sigma, angle_weight, size, n_t, upper):
    """Weights w/σ² of pairs start..start+size (indices of the layout): zero from `stop` on
    (padding, or the next process's pairs) and on the diagonal of the all-pairs layout (the
    upper layout holds no diagonal). `start` and `stop` may be traced."""
    pair = start + jnp.arange(size)
    valid = pair < stop
    if not upper:
        valid = valid & (pair // n_t != pair % n_t)
    return jnp.where(valid[None, :], angle_weight[:, None] / (sigma * sigma), 0.0)


_KERNEL_STATIC = ("mode", "convention", "size", "n_t", "upper", "loss")


@functools.partial(jax.jit, static_argnames=_KERNEL_STATIC)
def _chunk(contrast, offset, u, du, pieces, start, stop, data, sigma, angle_weight, f_scale, *,
           mode, convention, size, n_t, upper, loss):
    return chunk_sums(contrast, offset, u, du, pieces.slice(start, size), data,
                      _chunk_weight(start, stop, sigma, angle_weight, size, n_t, upper),
                      mode=mode,
                      convention=convention, loss=loss, f_scale=f_scale)


@functools.partial(jax.jit, static_argnames=_KERNEL_STATIC)
def _value_chunk(contrast, offset, u, e, gamma, start, stop, data, sigma, angle_weight, f_scale,
                 *, mode, convention, size, n_t, upper, loss):
    return chunk_cost(contrast, offset, u, lax.dynamic_slice_in_dim(e, start, size),
                      lax.dynamic_slice_in_dim(gamma, start, size), data,
                      _chunk_weight(start, stop, sigma, angle_weight, size, n_t, upper),
                      mode=mode,
                      convention=convention, loss=loss, f_scale=f_scale)


@functools.partial(jax.jit, static_argnames=("size", "n_t", "upper", "loss"))
def _moment_chunk(start, stop, data, sigma, angle_weight, f_scale, *, size, n_t, upper, loss):
    w = _chunk_weight(start, stop, sigma, angle_weight, size, n_t, upper)
    return jnp.stack([jnp.sum(w, 1), jnp.sum(w * data, 1), jnp.sum(w * data * data, 1)], 1)


@dataclasses.dataclass(frozen=True)
class StreamPass:
    """Host-driven passes over `HostData`, one chunk of `chunk_points` points on the device
    at a time: `sums(x)` → (cost, JᵀJ, Jᵀr) and the cheaper `cost(x)` (no derivatives).

    `pairs`: "all" (the n_t² pairs, row-major; the diagonal has weight 0) or "upper" (only
    t1 < t2, in the order of `pairs.upper_pairs`: for exactly symmetric c2 and σ, whose
    other triangle repeats them; cost, JᵀJ and Jᵀr are then those of the independent
    points). Chunks are ranges of the pair index either way.

    In a multi-process job the host data are this process's t1 `rows` (start, stop) of
    every angle (all pairs), and `reduce` adds each pass's sums over the processes (a
    collective), so every process holds the sums of all the data."""

    host: HostData
    mode: str
    convention: str
    chunk_points: int = DEFAULT_STREAM_CHUNK_POINTS
    loss: str = "linear"
    f_scale: float = 1.0
    pairs: str = "all"
    rows: tuple[int, int] | None = None
    reduce: Callable[[Any], Any] | None = None

    def __post_init__(self):
        n_pairs(self.n_t, self.pairs)  # validates the name
        if self.rows is not None and self.upper:
            raise ValueError("pairs: a share of rows holds all its pairs, not 'upper'")

    @property
    def n_t(self) -> int:
        return int(self.host.t.shape[0])

    @property
    def upper(self) -> bool:
        return self.pairs == "upper"

    @property
    def n_pairs(self) -> int:
        """Pairs held: n_t² or n_t(n_t − 1)/2 (`pairs.n_pairs`)."""
        return n_pairs(self.n_t, self.pairs)

    @property
    def size(self) -> int:
        return max(1, -(-self.chunk_points // self.host.g2.shape[0]))

    @property
    def span(self) -> tuple[int, int]:
        """(first, stop) pair index of the pairs this host holds (all of them, or its rows')."""
        if self.rows is None:
            return 0, self.n_pairs
        return self.rows[0] * self.n_t, self.rows[1] * self.n_t

    @property
    def n_chunks(self) -> int:
        first, stop = self.span
        return -(-(stop - first) // self.size)

    @property
    def n_pad(self) -> int:
        """Length of the shared pieces: every pair of the layout, up to this host's last
        chunk."""
        return max(self.n_pairs, self.span[0] + self.n_chunks * self.size)

    def weighted(self, w: np.ndarray) -> StreamPass:
        return dataclasses.replace(self, host=self.host.weighted(w))

    def _read(self, array, start):
        """Pairs start..start+size (fewer at the end) of a (n_phi, n_t²) host array, as
        float64 NumPy. Upper layout: the rows i0..i1 of the (t1, t2) grid that hold these
        pairs are read as one contiguous slice, and the pairs gathered from it."""
        if not self.upper:
            return np.asarray(array[:, start : start + self.size], dtype=np.float64)
        flat = upper_pairs(self.n_t)[start : start + self.size]  # i·n_t + j, ascending
        n_t = self.n_t
        lo = int(flat[0]) // n_t * n_t  # first element of row i0
        hi = (int(flat[-1]) // n_t + 1) * n_t  # one past the end of row i1
        rows = array[:, lo:hi]
        return np.asarray(rows[:, flat - lo], dtype=np.float64)

    def _load(self, array, start, fill):
        block = self._read(array, start)
        if block.shape[1] < self.size:
            block = np.pad(block, ((0, 0), (0, self.size - block.shape[1])),
                           constant_values=fill)
        return jax.device_put(block)

    def _stream(self, kernel, first, rest):
        """Σ_k kernel(*first, start_k, data_k, σ_k, angle weights, …) over the chunks."""
        host, size = self.host, self.size
        n_phi, n_t = host.g2.shape[0], host.t.shape[0]
        w = jnp.ones(n_phi) if host.angle_weight is None else jnp.asarray(host.angle_weight)

        scalar = (jnp.full((n_phi, size), host.sigma) if isinstance(host.sigma, float)
                  else None)  # one device array for every chunk
        offset, stop = self.span[0], jnp.asarray(self.span[1])

        def one(k):
            start = k * size
            sigma = scalar if scalar is not None else self._load(host.sigma, start, 1.0)
            return kernel(*first, offset + start, stop, self._load(host.g2, start, 0.0), sigma,
                          w, jnp.asarray(self.f_scale), **rest, size=size, n_t=n_t,
                          upper=self.upper, loss=self.loss)

        total = streamed_sums(one, self.n_chunks)
        return total if self.reduce is None else jax.tree.map(jnp.asarray, self.reduce(total))

    def _static(self):
        host = self.host
        return (jnp.asarray(host.t), jnp.asarray(host.phi), host.q, host.L)

    def sums(self, x_full: np.ndarray):
        """(cost, JᵀJ, Jᵀr) in the full layout at x_full, one streamed pass."""
        kw = dict(mode=self.mode, convention=self.convention)
        first = _pieces(jnp.asarray(x_full), *self._static(), **kw, n_pad=self.n_pad,
                        upper=self.upper)
        cost, gram, moment = self._stream(_chunk, first, kw)
        jtj, jtr = assemble(gram, moment)
        return cost, jtj, jtr

    def constant_cost(self) -> float:
        """½χ² of the per-angle constant model (Σw, Σwy, Σwy² per angle, one pass)."""
        m = np.asarray(self._stream(_moment_chunk, (), {}))
        return float(0.5 * np.sum(m[:, 2] - m[:, 1] ** 2 / np.where(m[:, 0] > 0, m[:, 0], 1)))

    def cost(self, x_full: np.ndarray) -> float:
        """½‖r‖² at x_full, one streamed pass without derivative rows (~4× cheaper)."""
        kw = dict(mode=self.mode, convention=self.convention)
        first = _value_pieces(jnp.asarray(x_full), *self._static(), **kw, n_pad=self.n_pad,
                              upper=self.upper)
        return float(self._stream(_value_chunk, first, kw))


class Streamed(AbstractObjective):
    """The host-streamed objective (full layout); its passes run on the host."""

    traceable = False
    passes: StreamPass

    def sums(self, x) -> Sums:
        return self.passes.sums(np.asarray(x))

    def cost(self, x):
        return self.passes.cost(np.asarray(x))

    def weighted(self, w) -> Streamed:
        return Streamed(self.passes.weighted(np.asarray(w)))

    def profile(self, physical):
        """(cost, contrast, offset) of the exact per-angle optimum at these physical values:
        the linear solution from one streamed pass, then a cost pass."""
        n = self.passes.host.phi.shape[0]
        theta = jnp.asarray(physical)
        l_star = linear_solution(self.sums, 2 * n, theta, jnp.concatenate(
            [jnp.ones(n), jnp.zeros(n)]))
        return self.cost(jnp.concatenate([l_star, theta])), l_star[:n], l_star[n:]

    def constant_cost(self):
        return self.passes.constant_cost()

    def with_loss(self, loss: str, f_scale=1.0) -> Streamed:
        """The same data under another loss (e.g. "linear" for the raw χ²)."""
        return Streamed(dataclasses.replace(self.passes, loss=loss, f_scale=float(f_scale)))

    @property
    def n_chunks(self) -> int:
        return self.passes.n_chunks

    @property
    def phi(self):
        return jnp.asarray(self.passes.host.phi)
