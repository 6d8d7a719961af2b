"""Start points of the 3-attempt recovery and the test that triggers it."""

from __future__ import annotations

import numpy as np

RECOVERY_STARTS = ("configured", "bounds_centre", "geometric_mean")


def recovery_start(kind: str, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Start vector of one recovery attempt (full or free layout alike).

    "configured": x0; "bounds_centre": (lower + upper)/2 (x0 where a bound is infinite);
    "geometric_mean": sign·sqrt(lower·upper) where lower·upper > 0, else the centre.
    """
    x0 = np.asarray(x0, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    finite = np.isfinite(lower) & np.isfinite(upper)
    centre = np.where(finite, 0.5 * (np.where(finite, lower, 0) + np.where(finite, upper, 0)), x0)
    if kind == "configured":
        return x0.copy()
    if kind == "bounds_centre":
        return centre
    if kind == "geometric_mean":
        product = np.where(finite, lower * upper, -1.0)
        geo = np.sign(np.where(finite, lower, 1.0)) * np.sqrt(np.abs(product))
        return np.where(product > 0, geo, centre)
    raise ValueError(f"recovery start: unknown kind {kind!r}; expected one of {RECOVERY_STARTS}")


def attempt_problems(
    *,
    finite: bool,
    success: bool,
    improved: bool,
    physical_at_bound: list[str],
) -> list[str]:
    """Reasons an attempt is not acceptable (empty list = acceptable)."""
    reasons = []
    if not finite:
        reasons.append("non-finite result")
    if not improved:
        reasons.append("no progress from the start")
    if not success and improved and finite:
        reasons.append("stopped before convergence")
    if physical_at_bound:
        reasons.append("physical parameters at bounds: " + ", ".join(physical_at_bound))
    return reasons
