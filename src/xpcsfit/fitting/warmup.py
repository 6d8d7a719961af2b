"""The opt-in L-BFGS warmup of hybrid_streaming (`hybrid_streaming.enable_warmup`).

Phases 0–1 of DESIGN §5: the free parameters normalised to [0, 1] by their bounds, then
bounded L-BFGS on the streamed loss with cost-only passes for the line-search trials. It is
off by default: on simulated laminar cases (5–8 angles, 40–60 frames, start at truth × 1.5)
it moved γ̇0 from ~2e-4 into the basin at ~5e-3 in 1 of 3 cases with a 1 % stall switch
and needed ≥ 50 full passes to be safe, while the trust-region phase alone converged to
the STANDARD answer (identical iterates) in 8–20 passes.
"""

from __future__ import annotations

import time

import numpy as np

from ..solvers.lbfgs import lbfgs_warmup


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


def normalised_warmup(objective, lower, upper, z0, opts, callback=None):
    """Phases 0–1: L-BFGS on zn = (z − base)/span ∈ [0, 1]; returns (z, report).

    `objective` (free coordinates z) gives the loss and gradient; gradients are mapped to
    zn (× span) here, so the warmup sees a problem whose variables all have unit range.
    `opts` is the `Streaming` section of the config.
    """
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)

    def value_and_grad(z):
        cost, grad = objective.value_and_grad(z)
        return float(cost), np.asarray(grad)

    def value(z):
        return float(objective.cost(z))

    span, base = bound_normalisation(lower, upper, z0)
    lo_n = np.where(np.isfinite(lower), (lower - base) / span, -np.inf)
    hi_n = np.where(np.isfinite(upper), (upper - base) / span, np.inf)

    def vg_n(zn):
        cost, grad = value_and_grad(base + span * zn)
        return cost, grad * span

    t0 = time.perf_counter()
    warm = lbfgs_warmup(
        vg_n, np.clip((np.asarray(z0) - base) / span, lo_n, hi_n), lo_n, hi_n,
        max_iterations=int(min(max(int(opts.warmup_iterations), 1), 500)),
        window=int(opts.warmup_window), rtol=float(opts.warmup_rtol),
        value=lambda zn: value(base + span * zn),
        callback=(lambda k, v: callback(k - 1, v, np.nan, np.nan)) if callback else None)
    report = {"iterations": warm.iterations, "loss_evaluations": warm.evaluations,
              "reason": warm.reason, "loss_start": warm.history[0], "loss_end": warm.value,
              "seconds": time.perf_counter() - t0,
              "normalisation": {"span": span.tolist(), "base": base.tolist()}}
    return base + span * np.clip(warm.x, lo_n + 1e-12, hi_n - 1e-12), report
