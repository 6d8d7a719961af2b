"""HYBRID_STREAMING: c2 held in host memory (array or memory-mapped .npy), streamed in chunks.

Phase 0 normalises the free parameters to [0, 1] by their bounds; phase 1 (opt-in, see
`WARMUP_DEFAULTS` for why) is an L-BFGS warmup on the streamed loss in those coordinates
(line-search trials use a cost-only pass, 4–6× cheaper than a pass with derivatives); phase 2 is the shared trust-region solver driven
by streamed (cost, JᵀJ, Jᵀr) passes in the free coordinates, so it takes the same steps and
stops on the same tests as the in-memory strategies; phase 3 maps the warmup's normalised
point back (z = base + span·zn) — the covariance comes from phase 2's JᵀJ in z directly,
equal to S·Cov_norm·Sᵀ. Device memory holds one chunk, the shared (t1, t2) pieces and
O(n_params²) sums.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..solvers.lbfgs import lbfgs_warmup
from ..solvers.streaming import streamed_evaluate, streamed_sums
from ..solvers.trust_region import trust_region_solve
from .defense.cv_penalty import cv_penalty_rows, with_penalty
from .structured import (
    angle_pieces,
    assemble,
    chunk_cost,
    chunk_sums,
    grid_values,
    model_pieces,
)
from .varpro import varpro_host_solve

DEFAULT_STREAM_CHUNK_POINTS = 50_000
WARMUP_DEFAULTS = {
    "chunk_size": DEFAULT_STREAM_CHUNK_POINTS,
    "enable_warmup": False,
    "warmup_iterations": 200,
    "warmup_window": 5,
    "warmup_rtol": 1e-6,
    "gauss_newton_iterations": 50,
}
"""Phase settings (config `optimization.nlsq.hybrid_streaming`). The L-BFGS warmup is off
by default: on simulated laminar cases (5–8 angles, 40–60 frames, start at truth × 1.5) it
moved γ̇0 from ~2e-4 into the basin at ~5e-3 in 1 of 3 cases with a 1 % stall switch and
needed ≥ 50 full passes to be safe, while the trust-region phase alone converged to the
STANDARD answer (identical iterates) in 8–20 passes. Set `enable_warmup: true` to run it."""


SETTINGS_PATH = "optimization.nlsq.hybrid_streaming"


def streaming_settings(section: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The phase settings with defaults filled in, and the unknown keys (full paths).

    Raises ValueError naming the key path for a bad value: counts must be integers ≥ 1,
    `enable_warmup` a bool, `warmup_rtol` a number ≥ 0.
    """
    section = dict(section or {})
    unknown = [f"{SETTINGS_PATH}.{k}" for k in section if k not in WARMUP_DEFAULTS]
    opts = {**WARMUP_DEFAULTS, **{k: v for k, v in section.items() if k in WARMUP_DEFAULTS}}
    for key in ("chunk_size", "warmup_iterations", "warmup_window", "gauss_newton_iterations"):
        value = opts[key]
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{SETTINGS_PATH}.{key}: must be an integer >= 1, got {value!r}")
    if not isinstance(opts["enable_warmup"], bool):
        raise ValueError(f"{SETTINGS_PATH}.enable_warmup: must be true or false, "
                         f"got {opts['enable_warmup']!r}")
    rtol = opts["warmup_rtol"]
    if isinstance(rtol, bool) or not isinstance(rtol, int | float) or not rtol >= 0:
        raise ValueError(f"{SETTINGS_PATH}.warmup_rtol: must be a number >= 0, got {rtol!r}")
    return opts, unknown


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

    def weighted(self, w: np.ndarray) -> HostData:
        """The same data with each angle's residual rows multiplied by w (weights by w²)."""
        return dataclasses.replace(self, angle_weight=np.asarray(w, dtype=np.float64) ** 2)


@functools.partial(jax.jit, static_argnames=("mode", "convention", "n_pad"))
def _pieces(x, t, phi, q, L, *, mode, convention, n_pad):
    return model_pieces(x, t=t, phi=phi, q=q, L=L, mode=mode, convention=convention, n_pad=n_pad)


@functools.partial(jax.jit, static_argnames=("mode", "convention", "n_pad"))
def _value_pieces(x, t, phi, q, L, *, mode, convention, n_pad):
    n_phi = phi.shape[0]
    physical = x[2 * n_phi :]
    u = (angle_pieces(physical, phi, q=q, L=L, convention=convention)[0]
         if mode == "laminar_flow" else jnp.zeros((n_phi,), x.dtype))
    e, gamma = grid_values(physical, t, q=q, mode=mode, convention=convention, n_pad=n_pad)
    return x[:n_phi], x[n_phi : 2 * n_phi], u, e, gamma


def _chunk_weight(start, sigma, angle_weight, size, n_t):
    pair = start + jnp.arange(size)
    valid = (pair < n_t * n_t) & (pair // n_t != pair % n_t)
    return jnp.where(valid[None, :], angle_weight[:, None] / (sigma * sigma), 0.0)


@functools.partial(jax.jit, static_argnames=("mode", "convention", "size", "n_t"))
def _chunk(contrast, offset, u, du, pieces, start, data, sigma, angle_weight, *, mode,
           convention, size, n_t):
    return chunk_sums(contrast, offset, u, du, pieces.slice(start, size), data,
                      _chunk_weight(start, sigma, angle_weight, size, n_t), mode=mode,
                      convention=convention)


@functools.partial(jax.jit, static_argnames=("mode", "convention", "size", "n_t"))
def _value_chunk(contrast, offset, u, e, gamma, start, data, sigma, angle_weight, *, mode,
                 convention, size, n_t):
    return chunk_cost(contrast, offset, u, lax.dynamic_slice_in_dim(e, start, size),
                      lax.dynamic_slice_in_dim(gamma, start, size), data,
                      _chunk_weight(start, sigma, angle_weight, size, n_t), mode=mode,
                      convention=convention)


@dataclasses.dataclass(frozen=True)
class StreamPass:
    """Host-driven passes over `HostData`, one chunk of `chunk_points` points on the device
    at a time: `sums(x)` → (cost, JᵀJ, Jᵀr) and the cheaper `cost(x)` (no derivatives)."""

    host: HostData
    mode: str
    convention: str
    chunk_points: int = DEFAULT_STREAM_CHUNK_POINTS

    @property
    def size(self) -> int:
        return max(1, -(-self.chunk_points // self.host.g2.shape[0]))

    @property
    def n_chunks(self) -> int:
        return -(-self.host.g2.shape[1] // self.size)

    def weighted(self, w: np.ndarray) -> StreamPass:
        return dataclasses.replace(self, host=self.host.weighted(w))

    def _load(self, array, start, fill):
        block = np.asarray(array[:, start : start + self.size], dtype=np.float64)
        if block.shape[1] < self.size:
            block = np.pad(block, ((0, 0), (0, self.size - block.shape[1])),
                           constant_values=fill)
        return jax.device_put(block)

    def _stream(self, kernel, first, rest):
        """Σ_k kernel(*first, start_k, data_k, σ_k, angle weights, …) over the chunks."""
        host, size = self.host, self.size
        n_phi, n_t = host.g2.shape[0], host.t.shape[0]
        w = jnp.ones(n_phi) if host.angle_weight is None else jnp.asarray(host.angle_weight)

        def one(k):
            start = k * size
            sigma = (jnp.full((n_phi, size), host.sigma) if isinstance(host.sigma, float)
                     else self._load(host.sigma, start, 1.0))
            return kernel(*first, start, self._load(host.g2, start, 0.0), sigma, w, **rest,
                          size=size, n_t=n_t)

        return streamed_sums(one, self.n_chunks)

    def _static(self):
        host = self.host
        return (jnp.asarray(host.t), jnp.asarray(host.phi), host.q, host.L)

    def sums(self, x_full: np.ndarray):
        """(cost, JᵀJ, Jᵀr) in the full layout at x_full, one streamed pass."""
        kw = dict(mode=self.mode, convention=self.convention)
        first = _pieces(jnp.asarray(x_full), *self._static(), **kw,
                        n_pad=self.n_chunks * self.size)
        cost, gram, moment = self._stream(_chunk, first, kw)
        jtj, jtr = assemble(gram, moment)
        return cost, jtj, jtr

    def cost(self, x_full: np.ndarray) -> float:
        """½‖r‖² at x_full, one streamed pass without derivative rows (~4× cheaper)."""
        kw = dict(mode=self.mode, convention=self.convention)
        first = _value_pieces(jnp.asarray(x_full), *self._static(), **kw,
                              n_pad=self.n_chunks * self.size)
        return float(self._stream(_value_chunk, first, kw))


def bound_normalisation(lower, upper, z0) -> tuple[np.ndarray, np.ndarray]:
    """(span, base) with z = base + span·zn mapping the box to [0, 1]; an unbounded
    component uses a span from its start value (|z0|, at least 1)."""
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    z0 = np.asarray(z0, dtype=np.float64)
    span = np.where(np.isfinite(upper - lower), upper - lower, np.maximum(np.abs(z0), 1.0))
    base = np.where(np.isfinite(lower), lower,
                    np.where(np.isfinite(upper), upper - span, z0 - 0.5 * span))
    return span, base


def normalised_warmup(value_and_grad, value, lower, upper, z0, opts, callback=None):
    """Phases 0–1: L-BFGS on zn = (z − base)/span ∈ [0, 1]; returns (z, report).

    `value_and_grad` and `value` are host functions of z; their gradients are mapped to zn
    (× span) here, so the warmup sees a problem whose variables all have unit range.
    """
    span, base = bound_normalisation(lower, upper, z0)
    lo_n = np.where(np.isfinite(lower), (lower - base) / span, -np.inf)
    hi_n = np.where(np.isfinite(upper), (upper - base) / span, np.inf)

    def vg_n(zn):
        cost, grad = value_and_grad(base + span * zn)
        return cost, grad * span

    t0 = time.perf_counter()
    warm = lbfgs_warmup(
        vg_n, np.clip((np.asarray(z0) - base) / span, lo_n, hi_n), lo_n, hi_n,
        max_iterations=int(min(max(int(opts["warmup_iterations"]), 1), 500)),
        window=int(opts["warmup_window"]), rtol=float(opts["warmup_rtol"]),
        value=lambda zn: value(base + span * zn),
        callback=(lambda k, v: callback(k - 1, v, np.nan, np.nan)) if callback else None)
    report = {"iterations": warm.iterations, "loss_evaluations": warm.evaluations,
              "reason": warm.reason, "loss_start": warm.history[0], "loss_end": warm.value,
              "seconds": time.perf_counter() - t0,
              "normalisation": {"span": span.tolist(), "base": base.tolist()}}
    return base + span * np.clip(warm.x, lo_n + 1e-12, hi_n - 1e-12), report


@dataclasses.dataclass(frozen=True)
class StreamObjective:
    """The HYBRID_STREAMING objective in free coordinates z (x = A z + b), with the same
    methods as the in-memory `GridObjective`, so the defense layers run on either.

    `settings` are the phase settings of `streaming_settings`; `report` collects the last
    solve's phase report (chunks, warmup, Gauss–Newton) for `device_info["streaming"]`.
    """

    passes: StreamPass
    A: np.ndarray
    b: np.ndarray
    settings: dict[str, Any]
    tolerances: dict[str, float]
    callback: Callable | None = None
    report: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def phi(self) -> np.ndarray:
        return self.passes.host.phi

    @property
    def n_chunks(self) -> int:
        return self.passes.n_chunks

    def weighted(self, w) -> StreamObjective:
        return dataclasses.replace(self, passes=self.passes.weighted(np.asarray(w)))

    def sums(self, z):
        cost, jtj, jtr = self.passes.sums(self.A @ np.asarray(z) + self.b)
        return cost, self.A.T @ np.asarray(jtj) @ self.A, self.A.T @ np.asarray(jtr)

    def value_and_grad(self, z) -> tuple[float, np.ndarray]:
        cost, _, jtr = self.sums(z)
        return float(cost), np.asarray(jtr)

    def cost(self, z) -> float:
        return self.passes.cost(self.A @ np.asarray(z) + self.b)

    def solve(self, z0, lower, upper, *, penalty=None, monitor=None):
        """Run the phases from z0 within [lower, upper]; a result in the free coordinates z.

        Phases 0–1 (`normalised_warmup`, if enabled) work on bound-normalised variables;
        phase 2 is the shared trust-region solver on streamed sums in z itself, so its
        steps, x_scale and stopping tests (xtol is relative to ‖z‖) are those of the
        in-memory strategies. `penalty` = (λ, MSE, n_points, n_phi) adds the L3 CV rows to
        both phases; `monitor` = (split, threshold, patience) runs the L4 monitor in phase
        2. `callback(iteration, cost, step_norm, radius)` reports progress in both phases
        (the warmup passes NaN for the trust-region quantities and counts from 0 again).
        """
        opts = streaming_settings(self.settings)[0]
        lower = np.asarray(lower, dtype=np.float64)
        upper = np.asarray(upper, dtype=np.float64)
        value, value_and_grad = self.cost, self.value_and_grad
        if penalty is not None:
            lam, mse, n_points, n_phi = penalty
            A_j, b_j = jnp.asarray(self.A), jnp.asarray(self.b)
            rows = jax.jit(lambda z: cv_penalty_rows(A_j @ z + b_j, n_phi, lam=lam, mse=mse,
                                                     n_points=n_points))
            rows_vg = jax.jit(jax.value_and_grad(lambda z: 0.5 * jnp.sum(rows(z) ** 2)))

            def value(z):
                return self.cost(z) + float(rows_vg(jnp.asarray(z))[0])

            def value_and_grad(z):
                (cost, grad), (extra, d_extra) = self.value_and_grad(z), rows_vg(jnp.asarray(z))
                return cost + float(extra), grad + np.asarray(d_extra)

        report: dict[str, Any] = {"n_chunks": self.n_chunks,
                                  "chunk_points": self.passes.chunk_points}
        z_start = np.asarray(z0, dtype=np.float64)
        if opts["enable_warmup"]:
            z_start, report["warmup"] = normalised_warmup(value_and_grad, value, lower, upper,
                                                          z_start, opts, self.callback)
        t1 = time.perf_counter()
        evaluate = streamed_evaluate(self.sums, z_start.shape[0])
        if penalty is not None:
            evaluate = with_penalty(evaluate, rows)
        res = trust_region_solve(evaluate, jnp.asarray(z_start), jnp.asarray(lower),
                                 jnp.asarray(upper), max_nfev=opts["gauss_newton_iterations"],
                                 monitor=monitor, callback=self.callback, **self.tolerances)
        report["gauss_newton"] = {"nfev": int(res.nfev), "status": int(res.status),
                                  "seconds": time.perf_counter() - t1}
        self.report.update(report)
        return res

    def solve_separable(self, z0, lower, upper):
        """per_angle_mode varpro: contrast/offset eliminated (`fitting/varpro.py`); two
        streamed passes per evaluation, no warmup, ≤ gauss_newton_iterations evaluations.
        Needs the identity map (z = x, full layout)."""
        its = streaming_settings(self.settings)[0]["gauss_newton_iterations"]
        return varpro_host_solve(self.sums, self.phi.shape[0], lower, upper, z0,
                                 max_nfev=its, **self.tolerances)
