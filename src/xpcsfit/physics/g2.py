"""The homodyne two-time correlation model g2(φ, t1, t2).

``g2 = offset_φ + contrast_φ · K(φ, t1, t2)`` where the kernel K is, for the default
"paper" convention,

    K = exp(−q²·∫D) · sinc²(u_φ·Γ),   u_φ = ½·q·L·cos(φ0 − φ),   Γ = ∫γ̇,

and for the "homodyne" convention (the homodyne package's code, kept for migration)

    K = g1²,  g1 = max(exp(clip(−½q²∫D, −700, 0)) · sinc²(X), 1e-10),  X = q·L·cos(φ0 − φ)·Γ/(2π)

with D(t), γ̇(t) floored at 1e-10. The diffusion factor depends on (t1, t2) only and is
computed once per call; the shear factor depends on the angle through the scalar u_φ.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .transport import cumulative_trapezoid, pair_difference, rate, smooth_abs

MODES = ("static_isotropic", "laminar_flow")
CONVENTIONS = ("paper", "homodyne")
N_PHYSICAL = {"static_isotropic": 3, "laminar_flow": 7}
G1_FLOOR = 1e-10
_SINC_TAYLOR_RADIUS = 1e-4
_SINC_DERIVATIVE_SERIES_RADIUS = 1e-2


def check_mode(mode: str) -> str:
    """Return `mode` if it is a known analysis mode, else raise ValueError naming it."""
    if mode not in MODES:
        raise ValueError(f"analysis_mode: unknown mode {mode!r}; expected one of {MODES}")
    return mode


def check_convention(convention: str) -> str:
    """Return `convention` if known, else raise ValueError naming it."""
    if convention not in CONVENTIONS:
        raise ValueError(
            f"convention: unknown model convention {convention!r}; expected one of {CONVENTIONS}"
        )
    return convention


def sinc(x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    """Unnormalised ``sin(x)/x`` with the series ``1 − x²/6 + x⁴/120`` for |x| < 1e-4."""
    x = jnp.asarray(x)
    small = jnp.abs(x) < _SINC_TAYLOR_RADIUS
    x_safe = jnp.where(small, 1.0, x)
    x2 = x * x
    return jnp.where(small, 1.0 - x2 / 6.0 + x2 * x2 / 120.0, jnp.sin(x_safe) / x_safe)


def sinc_derivative(x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    """d sinc/dx = (cos x − sinc x)/x.

    The closed form cancels digits for small x (relative error ~1e-8 at x = 1e-4), so for
    |x| < 1e-2 the series −x/3 + x³/30 − x⁵/840 + x⁷/45360 is used (truncation < 1e-21).
    """
    x = jnp.asarray(x)
    small = jnp.abs(x) < _SINC_DERIVATIVE_SERIES_RADIUS
    x_safe = jnp.where(small, 1.0, x)
    x2 = x * x
    series = x * (-1.0 / 3.0 + x2 * (1.0 / 30.0 + x2 * (-1.0 / 840.0 + x2 / 45360.0)))
    return jnp.where(small, series, (jnp.cos(x_safe) - jnp.sin(x_safe) / x_safe) / x_safe)


def grid_step(t: Float[ArrayLike, " n_t"]) -> Float[Array, ""]:
    """Uniform grid step dt = t[1] − t[0] (s)."""
    t = jnp.asarray(t)
    return t[1] - t[0]


def _on(c, index):
    """The cumulative integral at the grid points `index` (all when None)."""
    return c if index is None else c[index]


def diffusion_integral(
    physical: Float[ArrayLike, " p"], t: Float[ArrayLike, " n_t"], *, convention: str = "paper",
    index=None,
) -> Float[Array, "m m"]:
    """Smoothed |∫_{t_i}^{t_j} D dt| (Å²) for every pair of grid times (or of the grid points
    `index`, integrated on the full grid)."""
    physical = jnp.asarray(physical)
    dt = grid_step(t)
    d_rate = rate(t, physical[0], physical[1], physical[2], dt, floor=convention == "homodyne")
    return smooth_abs(pair_difference(_on(cumulative_trapezoid(d_rate, dt), index)), dt)


def shear_integral(
    physical: Float[ArrayLike, " p"], t: Float[ArrayLike, " n_t"], *, convention: str = "paper",
    index=None,
) -> Float[Array, "m m"]:
    """Signed ∫_{t_i}^{t_j} γ̇ dt (dimensionless; sinc² is even so the sign is irrelevant),
    for every pair of grid times (or of the grid points `index`)."""
    physical = jnp.asarray(physical)
    dt = grid_step(t)
    g_rate = rate(t, physical[3], physical[4], physical[5], dt, floor=convention == "homodyne")
    return pair_difference(_on(cumulative_trapezoid(g_rate, dt), index))


def shear_scale(
    phi0: Float[ArrayLike, ""],
    phi: Float[ArrayLike, " n_phi"],
    *,
    q: Float[ArrayLike, ""],
    L: Float[ArrayLike, ""],
    convention: str = "paper",
) -> Float[Array, " n_phi"]:
    """Per-angle factor u_φ multiplying Γ inside the sinc (degrees in, 1 per unit Γ out).

    paper: ½·q·L·cos(φ0 − φ); homodyne: q·L·cos(φ0 − φ)/(2π).
    """
    cos_term = jnp.cos(jnp.deg2rad(phi0 - jnp.asarray(phi)))
    prefactor = 0.5 if convention == "paper" else 0.5 / math.pi
    return prefactor * q * L * cos_term


def diffusion_factor(
    physical: Float[ArrayLike, " p"],
    t: Float[ArrayLike, " n_t"],
    *,
    q: Float[ArrayLike, ""],
    convention: str = "paper",
    index=None,
) -> Float[Array, "m m"]:
    """Angle-independent factor E[i, j] of the kernel (on the grid points `index` if given).

    paper: exp(−q²·∫D); homodyne: exp(clip(−½·q²·∫D, −700, 0)) (that package's g1_diff).
    Only physical[0:3] (D0, alpha, D_offset) are read.
    """
    d_int = diffusion_integral(physical, t, convention=convention, index=index)
    if convention == "paper":
        return jnp.exp(-(q * q) * d_int)
    return jnp.exp(jnp.clip(-0.5 * (q * q) * d_int, -700.0, 0.0))


def combine(
    diffusion: Float[ArrayLike, "..."], shear: Float[ArrayLike, "..."], *, convention: str
) -> Float[Array, "..."]:
    """Kernel K from the diffusion factor E and the shear factor S = sinc²(u·Γ).

    paper: K = E·S; homodyne: K = g1² with g1 = max(E·S, 1e-10).
    """
    core = jnp.asarray(diffusion) * jnp.asarray(shear)
    if convention == "paper":
        return core
    g1 = jnp.where(core > G1_FLOOR, core, G1_FLOOR)
    return g1 * g1


def combine_derivative(core: Float[ArrayLike, "..."], *, convention: str) -> Float[Array, "..."]:
    """dK/d(core) for `combine` at core = E·S (1 for paper; 2·core above the floor)."""
    core = jnp.asarray(core)
    if convention == "paper":
        return jnp.ones_like(core)
    return jnp.where(core > G1_FLOOR, 2.0 * core, 0.0)


def _check_grid(t, q, L) -> None:
    """Reject what can be checked without tracing: n_t < 2, and concrete q ≤ 0 or L ≤ 0."""
    n_t = jnp.shape(t)[0] if jnp.ndim(t) == 1 else -1
    if n_t < 2:
        raise ValueError(f"t: need a 1-D grid of at least 2 times, got shape {jnp.shape(t)}")
    for name, value in (("q", q), ("L", L)):
        if not isinstance(value, jax.core.Tracer) and not float(value) > 0:
            raise ValueError(f"{name}: must be > 0, got {float(value)!r}")


def correlation_kernel(
    physical: Float[ArrayLike, " p"],
    t: Float[ArrayLike, " n_t"],
    phi: Float[ArrayLike, " n_phi"],
    *,
    q: Float[ArrayLike, ""],
    L: Float[ArrayLike, ""],
    mode: str = "laminar_flow",
    convention: str = "paper",
) -> Float[Array, "n_phi n_t n_t"]:
    """The kernel K with ``g2 = offset + contrast·K`` on the (φ, t1, t2) grid."""
    check_mode(mode)
    check_convention(convention)
    physical = jnp.asarray(physical, dtype=jnp.result_type(float))
    phi = jnp.atleast_1d(jnp.asarray(phi, dtype=physical.dtype))
    q = jnp.asarray(q, dtype=physical.dtype)
    _check_grid(t, q, L)
    if physical.shape != (N_PHYSICAL[mode],):
        raise ValueError(
            f"physical: expected {N_PHYSICAL[mode]} values for mode {mode!r}, "
            f"got shape {physical.shape}"
        )
    diffusion = diffusion_factor(physical, t, q=q, convention=convention)[None, :, :]
    shear = jnp.ones((phi.shape[0], 1, 1), dtype=physical.dtype)
    if mode == "laminar_flow":
        u = shear_scale(physical[6], phi, q=q, L=L, convention=convention)
        gamma = shear_integral(physical, t, convention=convention)
        shear = sinc(u[:, None, None] * gamma[None, :, :]) ** 2
    kernel = combine(diffusion, shear, convention=convention)
    return jnp.broadcast_to(kernel, (phi.shape[0], *diffusion.shape[1:]))


def g2_model(
    physical: Float[ArrayLike, " p"],
    contrast: Float[ArrayLike, "..."],
    offset: Float[ArrayLike, "..."],
    t: Float[ArrayLike, " n_t"],
    phi: Float[ArrayLike, " n_phi"],
    *,
    q: Float[ArrayLike, ""],
    L: Float[ArrayLike, ""],
    mode: str = "laminar_flow",
    convention: str = "paper",
) -> Float[Array, "n_phi n_t n_t"]:
    """Model two-time correlation g2 on the (φ, t1, t2) grid.

    **Arguments:**
    - `physical`: 3 (static_isotropic) or 7 (laminar_flow) values in the order
      D0 [Å²/s], alpha, D_offset [Å²/s], gamma_dot_t0 [1/s], beta, gamma_dot_t_offset [1/s],
      phi0 [deg].
    - `contrast`, `offset`: scalars or per-angle arrays of shape (n_phi,).
    - `t`: uniform time grid (s), shape (n_t,), n_t ≥ 2.
    - `phi`: scattering angles (deg), shape (n_phi,).
    - `q`: wavevector (Å⁻¹); `L`: stator–rotor gap (Å).
    - `mode`: "static_isotropic" or "laminar_flow"; `convention`: "paper" or "homodyne".

    **Returns:** g2 of shape (n_phi, n_t, n_t).

    ```python
    g2 = g2_model(jnp.array([1e3, 0.5, 10.0]), 0.4, 1.0, jnp.arange(50) * 0.1,
                  jnp.array([0.0]), q=0.005, L=2e6, mode="static_isotropic")
    ```
    """
    kernel = correlation_kernel(physical, t, phi, q=q, L=L, mode=mode, convention=convention)
    n_phi = kernel.shape[0]
    contrast = jnp.broadcast_to(jnp.asarray(contrast, dtype=kernel.dtype), (n_phi,))
    offset = jnp.broadcast_to(jnp.asarray(offset, dtype=kernel.dtype), (n_phi,))
    return offset[:, None, None] + contrast[:, None, None] * kernel
