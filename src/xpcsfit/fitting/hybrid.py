"""HYBRID_STREAMING: c2 held in host memory (array or memory-mapped .npy), streamed in chunks.

Phase 0 normalises the free parameters to [0, 1] by their bounds (a linear map composed
with the per-angle reparameterisation); phase 1 is an L-BFGS warmup on the streamed loss;
phase 2 the shared trust-region solver driven by streamed (cost, JᵀJ, Jᵀr) passes; phase 3
maps back, Cov = S·Cov_norm·Sᵀ with S = diag(upper − lower). Device memory holds one
chunk, the shared (t1, t2) pieces and O(n_params²) sums.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..solvers.lbfgs import lbfgs_warmup
from ..solvers.streaming import streamed_evaluate, streamed_sums
from ..solvers.trust_region import trust_region_solve
from .structured import assemble, chunk_sums, model_pieces

DEFAULT_STREAM_CHUNK_POINTS = 50_000


@dataclasses.dataclass(frozen=True)
class HostData:
    """c2 and σ kept on the host, flattened per angle over (t1, t2) pairs (no copy for
    C-contiguous arrays or memory maps)."""

    g2: np.ndarray  # (n_phi, n_t·n_t)
    sigma: np.ndarray | float  # same shape, or a scalar
    t: np.ndarray
    phi: np.ndarray
    q: float
    L: float

    @classmethod
    def from_arrays(cls, g2, sigma, t, phi, q, L) -> HostData:
        g2 = g2 if isinstance(g2, np.ndarray) else np.asarray(g2)
        n_phi = g2.shape[0]
        flat = g2.reshape(n_phi, -1)
        if np.isscalar(sigma) or np.ndim(sigma) == 0:
            sig = float(sigma)
        elif isinstance(sigma, np.ndarray) and not any(sigma.strides):
            sig = float(sigma.flat[0])  # a broadcast scalar: keep it scalar
        else:
            sig = np.asarray(sigma).reshape(n_phi, -1)
        return cls(flat, sig, np.asarray(t, dtype=np.float64), np.asarray(phi, dtype=np.float64),
                   float(q), float(L))


@functools.partial(jax.jit, static_argnames=("mode", "convention", "n_pad"))
def _pieces(x, t, phi, q, L, *, mode, convention, n_pad):
    return model_pieces(x, t=t, phi=phi, q=q, L=L, mode=mode, convention=convention, n_pad=n_pad)


@functools.partial(jax.jit, static_argnames=("mode", "convention", "size", "n_t"))
def _chunk(contrast, offset, u, du, pieces, start, data, sigma, *, mode, convention, size, n_t):
    part = pieces.slice(start, size)
    pair = start + jnp.arange(size)
    valid = (pair < n_t * n_t) & (pair // n_t != pair % n_t)
    weight = jnp.where(valid[None, :], 1.0 / (sigma * sigma), 0.0)
    return chunk_sums(contrast, offset, u, du, part, data, weight, mode=mode,
                      convention=convention)


def host_pass_fn(host: HostData, *, mode: str, convention: str, chunk_points: int,
                 on_chunk: Callable[[int], None] | None = None):
    """A host function x_full → (cost, JᵀJ, Jᵀr) streaming the data chunk by chunk."""
    n_phi, n_pairs = host.g2.shape
    n_t = host.t.shape[0]
    size = max(1, -(-chunk_points // n_phi))
    n_chunks = -(-n_pairs // size)
    n_pad = n_chunks * size
    t, phi = jnp.asarray(host.t), jnp.asarray(host.phi)

    def load(array, start):
        block = np.asarray(array[:, start : start + size], dtype=np.float64)
        if block.shape[1] < size:
            fill = 0.0 if array is host.g2 else 1.0
            block = np.pad(block, ((0, 0), (0, size - block.shape[1])), constant_values=fill)
        return jax.device_put(block)

    def run(x_full):
        contrast, offset, u, du, pieces = _pieces(
            jnp.asarray(x_full), t, phi, host.q, host.L, mode=mode, convention=convention,
            n_pad=n_pad)

        def one(k):
            start = k * size
            sigma = (jnp.full((n_phi, size), host.sigma) if isinstance(host.sigma, float)
                     else load(host.sigma, start))
            return _chunk(contrast, offset, u, du, pieces, start, load(host.g2, start), sigma,
                          mode=mode, convention=convention, size=size, n_t=n_t)

        cost, gram, moment = streamed_sums(one, n_chunks, on_chunk=on_chunk)
        jtj, jtr = assemble(gram, moment)
        return cost, jtj, jtr

    return run, n_chunks


def to_original_coordinates(res, span, base):
    """Map a solver result in normalised coordinates zn back to z = base + span·zn:
    x, gradient (÷ span) and JᵀJ (÷ span⊗span), so Cov_z = S·Cov_n·Sᵀ follows."""
    span = jnp.asarray(span)
    return eqx.tree_at(
        lambda r: (r.x, r.grad, r.jtj),
        res,
        (jnp.asarray(base) + span * res.x, res.grad / span, res.jtj / (span[:, None] * span[None, :])),
    )


def hybrid_streaming_solve(
    host: HostData,
    A: np.ndarray,
    b: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    z0: np.ndarray,
    *,
    mode: str,
    convention: str,
    settings: dict[str, Any] | None = None,
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
    callback: Callable | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Run phases 0–3 and return (solver result in free coordinates z, phase report).

    `settings` (config `optimization.nlsq.hybrid_streaming`): chunk_size (points, 50k),
    warmup_iterations (200, clamped to [100, 500]... as max), warmup_window (5),
    warmup_rtol (1e-6), gauss_newton_iterations (50), enable_warmup (True).
    """
    settings = dict(settings or {})
    chunk_points = int(settings.get("chunk_size", DEFAULT_STREAM_CHUNK_POINTS))
    warm_its = int(min(max(int(settings.get("warmup_iterations", 200)), 1), 500))
    gn_its = int(settings.get("gauss_newton_iterations", 50))
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        span = np.where(np.isfinite(upper - lower), upper - lower,
                        np.maximum(np.abs(np.asarray(z0)), 1.0))
        base = np.where(np.isfinite(lower), lower, np.asarray(z0) - 0.5 * span)
    else:
        span, base = upper - lower, lower
    # Phase 0: z = base + span·zn, composed into the linear map x = A z + b.
    A_n = np.asarray(A) * span[None, :]
    b_n = np.asarray(A) @ base + np.asarray(b)
    lo_n = np.where(np.isfinite(lower), (lower - base) / span, -np.inf)
    hi_n = np.where(np.isfinite(upper), (upper - base) / span, np.inf)
    zn0 = np.clip((np.asarray(z0) - base) / span, lo_n, hi_n)
    run, n_chunks = host_pass_fn(host, mode=mode, convention=convention,
                                 chunk_points=chunk_points)

    def free_pass(zn):
        cost, jtj, jtr = run(A_n @ zn + b_n)
        return cost, A_n.T @ np.asarray(jtj) @ A_n, A_n.T @ np.asarray(jtr)

    report: dict[str, Any] = {"n_chunks": n_chunks, "chunk_points": chunk_points}
    t0 = time.perf_counter()
    if settings.get("enable_warmup", True):
        warm = lbfgs_warmup(
            lambda zn: (lambda c, _, g: (float(c), np.asarray(g)))(*free_pass(zn)),
            zn0, lo_n, hi_n, max_iterations=warm_its,
            window=int(settings.get("warmup_window", 5)),
            rtol=float(settings.get("warmup_rtol", 1e-6)),
            callback=(lambda k, v: callback("warmup", k, v)) if callback else None,
        )
        report["warmup"] = {"iterations": warm.iterations, "evaluations": warm.evaluations,
                            "reason": warm.reason, "loss_start": warm.history[0],
                            "loss_end": warm.value, "seconds": time.perf_counter() - t0}
        zn_start = np.clip(warm.x, lo_n + 1e-12, hi_n - 1e-12)
    else:
        zn_start = zn0
    t1 = time.perf_counter()
    evaluate = streamed_evaluate(free_pass, zn_start.shape[0])
    res = trust_region_solve(evaluate, jnp.asarray(zn_start), jnp.asarray(lo_n),
                             jnp.asarray(hi_n), ftol=ftol, xtol=xtol, gtol=gtol,
                             max_nfev=gn_its)
    report["gauss_newton"] = {"nfev": int(res.nfev), "status": int(res.status),
                              "seconds": time.perf_counter() - t1}
    report["normalisation"] = {"span": span.tolist(), "base": base.tolist()}
    return res, {"A_n": A_n, "b_n": b_n, "span": span, "base": base, "report": report}
