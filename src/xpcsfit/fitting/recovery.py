"""The 3-attempt recovery: its start points and the problems that trigger the next one."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

RECOVERY_STARTS = ("configured", "bounds_centre", "geometric_mean")
PROBLEMS = ("non-finite result", "no progress from the start", "stopped before convergence",
            "physical parameters at bounds")


def recovery_start(kind: str, z0, lower, upper):
    """Start vector of one recovery attempt (free coordinates; z0 may be traced).

    "configured": z0; "bounds_centre": (lower + upper)/2 (z0 where a bound is infinite);
    "geometric_mean": sign·sqrt(lower·upper) where lower·upper > 0, else the centre.
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    z0 = jnp.asarray(z0, dtype=jnp.float64)
    finite = np.isfinite(lower) & np.isfinite(upper)
    centre = jnp.where(finite, 0.5 * (np.where(finite, lower, 0) + np.where(finite, upper, 0)),
                       z0)
    if kind == "configured":
        return z0
    if kind == "bounds_centre":
        return centre
    if kind == "geometric_mean":
        product = np.where(finite, lower * upper, -1.0)
        geo = np.sign(np.where(finite, lower, 1.0)) * np.sqrt(np.abs(product))
        return jnp.where(product > 0, geo, centre)
    raise ValueError(f"recovery start: unknown kind {kind!r}; expected one of {RECOVERY_STARTS}")


def inside(z, lower, upper):
    """z moved strictly inside the box (by 1e-10 of each finite range)."""
    lower, upper = np.asarray(lower), np.asarray(upper)
    span = np.where(np.isfinite(upper - lower), upper - lower, 1.0)
    return jnp.clip(z, lower + 1e-10 * span, upper - 1e-10 * span)


def attempt_problems(cost, x, success, cost_start, active, n_physical_free: int):
    """Flags (4,) in the order of `PROBLEMS` (all False = acceptable)."""
    finite = jnp.isfinite(cost) & jnp.all(jnp.isfinite(x))
    improved = (cost < cost_start) | (success & (cost <= cost_start))
    at_bound = jnp.any(active[active.shape[0] - n_physical_free :] != 0)
    return jnp.stack([~finite, finite & ~improved, finite & improved & ~success, at_bound])


def describe(flags, names: list[str] | None = None) -> list[str]:
    """The problem texts of one attempt's flags (host side)."""
    out = [text for text, on in zip(PROBLEMS, np.asarray(flags).tolist(), strict=True) if on]
    if names and out and out[-1] == PROBLEMS[3]:
        out[-1] = PROBLEMS[3] + ": " + ", ".join(names)
    return out
