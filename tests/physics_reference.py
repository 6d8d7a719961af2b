"""Independent plain-NumPy reference for the physics of DESIGN.md §2.

Written from the design text only (not from ``xpcsfit.physics``), explicit and
loop-based on purpose: clarity over speed.  Everything is float64.

    D(t)  = D0 · t_safe^α + D_offset
    γ̇(t)  = γ̇0 · t_safe^β + γ̇_offset          t_safe = max(t, dt/2), dt = t[1] − t[0]
    C[k]  = Σ_{m<k} ½ (f_m + f_{m+1}) · dt     (cumulative trapezoid, C[0] = 0)
    ∫D    = sqrt((C_D[j] − C_D[i])² + ε)       ε = 1e-12 · dt²  (smooth |·|)
    Γ     = C_γ[j] − C_γ[i]                    (signed: sinc² is even)

paper:     g2 = o + c · exp(−q² ∫D) · sinc²(½ q L cos(φ0 − φ) Γ)
homodyne:  rates floored at 1e-10; log g1_diff = clip(−½ q² ∫D, −700, 0);
           X = q L cos(φ0 − φ) Γ / (2π); g1 = g1_diff · sinc²(X), floored at 1e-10;
           g2 = o + c · g1²
static_isotropic: no shear factor (3 physical parameters D0, alpha, D_offset).
"""

from __future__ import annotations

import math

import numpy as np

HOMODYNE_FLOOR = 1e-10
SINC_TAYLOR_BELOW = 1e-4

LAMINAR_NAMES = (
    "D0",
    "alpha",
    "D_offset",
    "gamma_dot_t0",
    "beta",
    "gamma_dot_t_offset",
    "phi0",
)
STATIC_NAMES = LAMINAR_NAMES[:3]


def time_step(t) -> float:
    t = np.asarray(t, dtype=np.float64)
    return float(t[1] - t[0])


def ref_rate(t, amplitude, exponent, offset, dt, *, floor=False) -> np.ndarray:
    """amplitude · max(t, dt/2)^exponent + offset, optionally floored (homodyne)."""
    t = np.asarray(t, dtype=np.float64)
    out = np.empty_like(t)
    half = 0.5 * float(dt)
    for k in range(t.shape[0]):
        t_safe = t[k] if t[k] > half else half
        value = float(amplitude) * t_safe ** float(exponent) + float(offset)
        if floor:
            value = value if value > HOMODYNE_FLOOR else HOMODYNE_FLOOR
        out[k] = value
    return out


def ref_cumulative_trapezoid(f, dt) -> np.ndarray:
    """C[0] = 0, C[k] = C[k−1] + ½ (f[k−1] + f[k]) · dt."""
    f = np.asarray(f, dtype=np.float64)
    out = np.zeros_like(f)
    acc = 0.0
    for k in range(1, f.shape[0]):
        acc += 0.5 * (f[k - 1] + f[k]) * float(dt)
        out[k] = acc
    return out


def ref_pairwise_smooth_abs(c, dt) -> np.ndarray:
    """∫_{t_i}^{t_j} f = sqrt((C[j] − C[i])² + 1e-12·dt²)."""
    c = np.asarray(c, dtype=np.float64)
    n = c.shape[0]
    eps = 1e-12 * float(dt) ** 2
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            d = c[j] - c[i]
            out[i, j] = math.sqrt(d * d + eps)
    return out


def ref_pairwise_signed(c) -> np.ndarray:
    """Γ[i, j] = C[j] − C[i]."""
    c = np.asarray(c, dtype=np.float64)
    return c[None, :] - c[:, None]


def ref_sinc(x) -> np.ndarray:
    """Unnormalised sinc sin(x)/x, Taylor 1 − x²/6 + x⁴/120 for |x| < 1e-4."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    flat_x = x.reshape(-1)
    flat_o = out.reshape(-1)
    for k in range(flat_x.shape[0]):
        v = flat_x[k]
        if abs(v) < SINC_TAYLOR_BELOW:
            flat_o[k] = 1.0 - v * v / 6.0 + v**4 / 120.0
        else:
            flat_o[k] = math.sin(v) / v
    return out


def _per_angle(value, n_phi) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n_phi, float(arr))
    assert arr.shape == (n_phi,), arr.shape
    return arr


def ref_integrals(physical, t, *, mode="laminar_flow", convention="paper"):
    """Return (∫D matrix, Γ matrix or None) on the (t_i, t_j) grid."""
    physical = np.asarray(physical, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    dt = time_step(t)
    floor = convention == "homodyne"
    d_rate = ref_rate(t, physical[0], physical[1], physical[2], dt, floor=floor)
    int_d = ref_pairwise_smooth_abs(ref_cumulative_trapezoid(d_rate, dt), dt)
    if mode == "static_isotropic":
        return int_d, None
    g_rate = ref_rate(t, physical[3], physical[4], physical[5], dt, floor=floor)
    gamma = ref_pairwise_signed(ref_cumulative_trapezoid(g_rate, dt))
    return int_d, gamma


def ref_g2(
    physical,
    contrast,
    offset,
    t,
    phi,
    *,
    q,
    L,
    mode="laminar_flow",
    convention="paper",
) -> np.ndarray:
    """g2[a, i, j] following DESIGN.md §2 literally (loop over angles)."""
    if mode not in ("laminar_flow", "static_isotropic"):
        raise ValueError(f"unknown mode {mode!r}")
    if convention not in ("paper", "homodyne"):
        raise ValueError(f"unknown convention {convention!r}")
    physical = np.asarray(physical, dtype=np.float64)
    expected = 7 if mode == "laminar_flow" else 3
    assert physical.shape == (expected,), physical.shape
    phi = np.atleast_1d(np.asarray(phi, dtype=np.float64))
    t = np.asarray(t, dtype=np.float64)
    n_phi, n_t = phi.shape[0], t.shape[0]
    c = _per_angle(contrast, n_phi)
    o = _per_angle(offset, n_phi)
    q = float(q)
    L = float(L)

    int_d, gamma = ref_integrals(physical, t, mode=mode, convention=convention)

    if convention == "paper":
        diffusion = np.exp(-(q * q) * int_d)
    else:
        log_g1 = np.clip(-0.5 * (q * q) * int_d, -700.0, 0.0)
        g1_diff = np.exp(log_g1)

    out = np.empty((n_phi, n_t, n_t))
    for a in range(n_phi):
        if mode == "static_isotropic":
            if convention == "paper":
                k = diffusion
            else:
                g1 = np.where(g1_diff > HOMODYNE_FLOOR, g1_diff, HOMODYNE_FLOOR)
                k = g1 * g1
        else:
            cos_term = math.cos(math.radians(physical[6] - phi[a]))
            if convention == "paper":
                shear = ref_sinc(0.5 * q * L * cos_term * gamma) ** 2
                k = diffusion * shear
            else:
                x = q * L * cos_term * gamma / (2.0 * math.pi)
                g1 = g1_diff * ref_sinc(x) ** 2
                g1 = np.where(g1 > HOMODYNE_FLOOR, g1, HOMODYNE_FLOOR)
                k = g1 * g1
        out[a] = o[a] + c[a] * k
    return out


def ref_log_decay_exponent(physical, t, *, q, convention="paper") -> np.ndarray:
    """q²·∫D (the magnitude of the diffusion exponent of g2); used for tolerances."""
    int_d, _ = ref_integrals(
        np.asarray(physical, dtype=np.float64)[:3],
        t,
        mode="static_isotropic",
        convention=convention,
    )
    return float(q) ** 2 * int_d
