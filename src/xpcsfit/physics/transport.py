"""Transport rates D(t), γ̇(t) and their time integrals on a uniform grid.

All functions are pure, jittable and differentiable in every argument. Times are in
seconds; D in Å²/s; γ̇ in 1/s.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

HOMODYNE_RATE_FLOOR = 1e-10
"""Lower floor the homodyne package applies to D(t) and γ̇(t)."""


def safe_time(t: Float[ArrayLike, " n_t"], dt: Float[ArrayLike, ""]) -> Float[Array, " n_t"]:
    """Times with t < dt/2 replaced by dt/2 so that t**x is finite for x < 0.

    A `jnp.where` (not a clip) keeps derivatives w.r.t. the exponent finite.
    """
    t = jnp.asarray(t)
    half = 0.5 * jnp.asarray(dt, dtype=t.dtype)
    return jnp.where(t > half, t, half)


def rate(
    t: Float[ArrayLike, " n_t"],
    amplitude: Float[ArrayLike, ""],
    exponent: Float[ArrayLike, ""],
    offset: Float[ArrayLike, ""],
    dt: Float[ArrayLike, ""],
    *,
    floor: bool = False,
) -> Float[Array, " n_t"]:
    """Power-law rate ``amplitude · t_safe**exponent + offset`` on the grid.

    **Arguments:**
    - `t`: grid times (s), shape (n_t,).
    - `amplitude`, `exponent`, `offset`: D0, α, D_offset (or γ̇0, β, γ̇_offset).
    - `dt`: grid step (s); t_safe = max(t, dt/2).
    - `floor`: apply the homodyne floor ``where(x > 1e-10, x, 1e-10)``.

    **Returns:** the rate at each grid time, shape (n_t,).
    """
    value = amplitude * safe_time(t, dt) ** exponent + offset
    if floor:
        value = jnp.where(value > HOMODYNE_RATE_FLOOR, value, HOMODYNE_RATE_FLOOR)
    return value


def cumulative_trapezoid(
    f: Float[ArrayLike, " n_t"], dt: Float[ArrayLike, ""]
) -> Float[Array, " n_t"]:
    """Cumulative trapezoid integral ``C[k] = Σ_{m<k} ½(f_m + f_{m+1})·dt``, C[0] = 0."""
    f = jnp.asarray(f)
    steps = 0.5 * (f[:-1] + f[1:]) * dt
    return jnp.concatenate([jnp.zeros((1,), dtype=steps.dtype), jnp.cumsum(steps)])


def pair_difference(c: Float[ArrayLike, " n_t"]) -> Float[Array, "n_t n_t"]:
    """Signed integrals between grid points: ``M[i, j] = C[j] − C[i]``."""
    c = jnp.asarray(c)
    return c[None, :] - c[:, None]


def smooth_abs(x: Float[ArrayLike, "..."], dt: Float[ArrayLike, ""]) -> Float[Array, "..."]:
    """``sqrt(x² + ε)`` with ε = 1e-12·dt²: |x| with a finite gradient at x = 0."""
    x = jnp.asarray(x)
    return jnp.sqrt(x * x + 1e-12 * jnp.asarray(dt) ** 2)
