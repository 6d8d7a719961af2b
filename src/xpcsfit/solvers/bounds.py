"""Box-bound helpers of the trust-region reflective method (scipy 'trf' semantics)."""

from __future__ import annotations

import jax.numpy as jnp

EPS = float(jnp.finfo(jnp.float64).eps)


def cl_scaling(x, g, lower, upper):
    """Coleman–Li scaling vector v and its derivative dv (scipy's CL_scaling_vector)."""
    to_upper = (g < 0) & jnp.isfinite(upper)
    to_lower = (g > 0) & jnp.isfinite(lower)
    v = jnp.where(to_upper, upper - x, jnp.where(to_lower, x - lower, 1.0))
    dv = jnp.where(to_upper, -1.0, jnp.where(to_lower, 1.0, 0.0))
    return v, dv


def active_constraints(x, lower, upper, rtol):
    """−1 at the lower bound, +1 at the upper bound, 0 free (scipy's tolerance rule)."""
    lower_dist, upper_dist = x - lower, upper - x
    lower_thr = rtol * jnp.maximum(1.0, jnp.abs(lower))
    upper_thr = rtol * jnp.maximum(1.0, jnp.abs(upper))
    at_lower = jnp.isfinite(lower) & (lower_dist <= jnp.minimum(upper_dist, lower_thr))
    at_upper = jnp.isfinite(upper) & (upper_dist <= jnp.minimum(lower_dist, upper_thr))
    return jnp.where(at_lower, -1, jnp.where(at_upper, 1, 0)).astype(jnp.int32)


def strictly_feasible(x, lower, upper, rstep):
    """Move points on (or beyond) a bound just inside it (scipy's make_strictly_feasible)."""
    if rstep == 0:
        new = jnp.where(x <= lower, jnp.nextafter(lower, upper), x)
        new = jnp.where(x >= upper, jnp.nextafter(upper, lower), new)
    else:
        active = active_constraints(x, lower, upper, rstep)
        new = jnp.where(active == -1, lower + rstep * jnp.maximum(1.0, jnp.abs(lower)), x)
        new = jnp.where(active == 1, upper - rstep * jnp.maximum(1.0, jnp.abs(upper)), new)
    tight = (new < lower) | (new > upper)
    return jnp.where(tight, 0.5 * (lower + upper), new)


def step_to_bound(x, s, lower, upper):
    """Largest t with x + t·s inside the box, and which components hit (±1)."""
    nonzero = s != 0
    s_safe = jnp.where(nonzero, s, 1.0)
    steps = jnp.where(nonzero, jnp.maximum((lower - x) / s_safe, (upper - x) / s_safe), jnp.inf)
    t = jnp.min(steps)
    hits = jnp.where(steps == t, jnp.sign(s), 0.0)
    return t, hits


def intersect_ball(x, s, delta):
    """Both roots t of ‖x + t·s‖ = Δ (negative, positive)."""
    a = jnp.dot(s, s)
    a = jnp.where(a > 0, a, 1.0)
    b = jnp.dot(x, s)
    c = jnp.dot(x, x) - delta**2
    d = jnp.sqrt(jnp.maximum(b * b - a * c, 0.0))
    q = -(b + jnp.where(b >= 0, d, -d))
    q = jnp.where(q == 0, -EPS, q)
    t1, t2 = q / a, c / q
    return jnp.minimum(t1, t2), jnp.maximum(t1, t2)


