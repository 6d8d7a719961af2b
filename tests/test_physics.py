"""Independent tests of the physics model (DESIGN.md §2) against a NumPy reference.

The reference (`tests/physics_reference.py`) was written from the design text only.
Parameters are drawn across the §3 bounds: D0 and gamma_dot_t0 log-uniform, exponents
uniform in [−2, 2], offsets with random sign and log-uniform magnitude (so that both
"offset negligible" and "offset dominant, rate changes sign" occur).  Each reference
comparison draws from one regime: anything in the bounds, "informative" (g2 visibly
decays, a few sinc lobes) or "deep" (underflow and the homodyne g1 floor).
Tolerances are justified next to each assertion.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physics_reference import (
    HOMODYNE_FLOOR,
    LAMINAR_NAMES,
    ref_cumulative_trapezoid,
    ref_g2,
    ref_log_decay_exponent,
    ref_rate,
)
from xpcsfit.physics.g2 import g2_model
from xpcsfit.physics.transport import cumulative_trapezoid, rate

EPS = float(np.finfo(np.float64).eps)

MODES = ("laminar_flow", "static_isotropic")
CONVENTIONS = ("paper", "homodyne")

ANGLE_SETS = {
    "single": np.array([17.3]),
    # spans the full circle, including φ ≡ φ0 ± 90° for φ0 = 0 and φ, φ + 180° pairs
    "full_circle": np.arange(0.0, 360.0, 45.0),
    # not sorted, negative and > 180°: output must follow the input order
    "unsorted": np.array([120.0, -15.0, 3.0, 250.0]),
}


# ----------------------------------------------------------------------------- helpers
def _signed_log_uniform(rng, lo_exp, hi_exp):
    return float(rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(lo_exp, hi_exp))


def draw_physical(rng, mode="laminar_flow", *, alpha=(-2.0, 2.0), beta=(-2.0, 2.0)):
    """Random physical vector inside the DESIGN §3 bounds."""
    phys = [
        10.0 ** rng.uniform(2.0, 5.0),  # D0 ∈ [1e2, 1e5], log-uniform
        rng.uniform(*alpha),  # alpha ∈ [−2, 2]
        _signed_log_uniform(rng, -1.0, 5.0),  # D_offset ∈ ±[0.1, 1e5]
    ]
    if mode == "laminar_flow":
        phys += [
            10.0 ** rng.uniform(-6.0, math.log10(0.5)),  # gamma_dot_t0 ∈ [1e-6, 0.5]
            rng.uniform(*beta),  # beta ∈ [−2, 2]
            _signed_log_uniform(rng, -6.0, -1.0),  # gamma_dot_t_offset ∈ ±[1e-6, 0.1]
            rng.uniform(-10.0, 10.0),  # phi0 ∈ [−10, 10] deg
        ]
    return np.array(phys)


def draw_setting(rng, n_t, *, t0_zero=None):
    """q ∈ [1e-3, 1e-2] Å⁻¹, L ∈ [1e5, 3e6] Å, dt ∈ [1e-3, 1] s (all log-uniform)."""
    q = 10.0 ** rng.uniform(-3.0, -2.0)
    L = 10.0 ** rng.uniform(5.0, math.log10(3e6))
    dt = 10.0 ** rng.uniform(-3.0, 0.0)
    if t0_zero is None:
        t0_zero = bool(rng.integers(2))
    start = 0 if t0_zero else int(rng.integers(1, 50))
    t = (start + np.arange(n_t)) * dt
    return q, L, dt, t


def draw_scaling(rng, n_phi):
    contrast = rng.uniform(0.0, 1.0, n_phi)
    offset = rng.uniform(0.5, 1.5, n_phi)
    return contrast, offset


# Tests go through one jit per (shape, mode, convention): the fitted model is always
# jitted, and op-by-op dispatch would recompile every primitive for each new shape.
# `test_jit_matches_eager` ties the two paths together.
_g2_jit = jax.jit(g2_model, static_argnames=("mode", "convention"))
_rate_jit = jax.jit(rate, static_argnames=("floor",))
_cumtrapz_jit = jax.jit(cumulative_trapezoid)


def model(physical, contrast, offset, t, phi, q, L, mode, convention, *, jit=True):
    fn = _g2_jit if jit else g2_model
    return np.asarray(
        fn(
            jnp.asarray(physical),
            jnp.asarray(contrast),
            jnp.asarray(offset),
            jnp.asarray(t),
            jnp.asarray(phi),
            q=q,
            L=L,
            mode=mode,
            convention=convention,
        )
    )


def extent(physical, t, phi, q, L, convention):
    """(largest q²∫D, largest |sinc argument|) over the grid; phase 0 in static mode."""
    dt = t[1] - t[0]
    floor = convention == "homodyne"
    c_d = ref_cumulative_trapezoid(ref_rate(t, *physical[:3], dt, floor=floor), dt)
    decay = q * q * float(c_d.max() - c_d.min())
    if physical.shape[0] == 3:
        return decay, 0.0
    c_g = ref_cumulative_trapezoid(ref_rate(t, *physical[3:6], dt, floor=floor), dt)
    u = 0.5 * q * L if convention == "paper" else q * L / (2.0 * math.pi)
    cos = np.abs(np.cos(np.deg2rad(physical[6] - np.asarray(phi))))
    return decay, float(u * cos.max() * (c_g.max() - c_g.min()))


def max_phase(physical, t, phi, q, L, convention):
    return extent(physical, t, phi, q, L, convention)[1]


REGIMES = {  # admissible (decay exponent, sinc phase) ranges of a random draw
    "anything": ((0.0, np.inf), (0.0, np.inf)),
    "informative": ((0.3, 10.0), (0.0, 30.0)),  # g2 visibly decays, a few sinc lobes
    "deep": ((200.0, 5000.0), (0.0, np.inf)),  # underflow; homodyne floor g1 = 1e-10
}


def draw_case(rng, mode, convention, phi, n_t, regime):
    (e_lo, e_hi), (p_lo, p_hi) = REGIMES[regime]
    for _ in range(5000):
        physical = draw_physical(rng, mode)
        q, L, dt, t = draw_setting(rng, n_t)
        decay, phase = extent(physical, t, phi, q, L, convention)
        if e_lo <= decay <= e_hi and p_lo <= phase <= p_hi:
            return physical, q, L, dt, t
    raise AssertionError(f"no draw in regime {regime}")  # pragma: no cover


# ------------------------------------------------------------------- transport pieces
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("floor", [False, True])
def test_rate_matches_reference(seed, floor):
    rng = np.random.default_rng(100 + seed)
    n_t = 37
    _, _, dt, t = draw_setting(rng, n_t, t0_zero=seed % 2 == 0)
    amplitude = 10.0 ** rng.uniform(-6.0, 5.0)
    exponent = rng.uniform(-2.0, 2.0)
    offset = _signed_log_uniform(rng, -6.0, 5.0)
    got = np.asarray(_rate_jit(jnp.asarray(t), amplitude, exponent, offset, dt, floor=floor))
    ref = ref_rate(t, amplitude, exponent, offset, dt, floor=floor)
    assert got.shape == (n_t,)
    # One pow, one multiply, one add: a few ulp of the *terms* (the sum may cancel).
    t_safe = np.maximum(t, dt / 2)
    scale = np.abs(amplitude * t_safe**exponent) + abs(offset)
    np.testing.assert_array_less(np.abs(got - ref), 8 * EPS * scale + 1e-300)


def test_rate_uses_half_step_at_t_zero():
    dt = 0.01
    t = np.arange(5) * dt
    got = np.asarray(rate(jnp.asarray(t), 3.0, -1.5, 0.25, dt))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[0], 3.0 * (dt / 2) ** -1.5 + 0.25, rtol=1e-14)
    np.testing.assert_allclose(got[1:], 3.0 * t[1:] ** -1.5 + 0.25, rtol=1e-14)


def test_rate_floor():
    dt = 0.1
    t = np.arange(20) * dt
    # t − 1 is negative on the first half of the grid
    raw = np.asarray(rate(jnp.asarray(t), 1.0, 1.0, -1.0, dt))
    floored = np.asarray(rate(jnp.asarray(t), 1.0, 1.0, -1.0, dt, floor=True))
    assert np.any(raw < 0.0)  # unfloored rate may be negative (paper convention)
    assert np.all(floored >= HOMODYNE_FLOOR)
    np.testing.assert_array_equal(floored, np.where(raw > 1e-10, raw, 1e-10))
    # an amplitude so small that everything sits below the floor
    tiny = np.asarray(rate(jnp.asarray(t), 1e-14, 0.5, 0.0, dt, floor=True))
    np.testing.assert_array_equal(tiny, np.full_like(t, 1e-10))


@pytest.mark.parametrize("seed", range(4))
def test_cumulative_trapezoid_matches_reference(seed):
    rng = np.random.default_rng(200 + seed)
    n_t = int(rng.integers(2, 60))
    dt = 10.0 ** rng.uniform(-3.0, 0.0)
    f = rng.normal(size=n_t) * 10.0 ** rng.uniform(-3, 3)
    got = np.asarray(_cumtrapz_jit(jnp.asarray(f), dt))
    ref = ref_cumulative_trapezoid(f, dt)
    assert got.shape == (n_t,)
    assert got[0] == 0.0
    # summation order may differ (scan vs sequential): bound by n·eps·Σ|terms|
    budget = 4 * n_t * EPS * np.cumsum(np.abs(f)) * dt + 1e-300
    np.testing.assert_array_less(np.abs(got - ref), budget)


def test_cumulative_trapezoid_polynomial():
    dt = 0.05
    t = 0.3 + np.arange(41) * dt
    f = 2.0 - 3.0 * t + 0.7 * t**2 - 0.2 * t**3
    got = np.asarray(cumulative_trapezoid(jnp.asarray(f), dt))
    # numpy's trapezoid on every prefix
    expect = np.array([np.trapezoid(f[: k + 1], dx=dt) for k in range(t.size)])
    np.testing.assert_allclose(got, expect, rtol=1e-13, atol=1e-14)
    # trapezoid error of a cubic: −dt²/12 · ∫ f'' ; check against the analytic integral
    F = lambda x: 2.0 * x - 1.5 * x**2 + 0.7 / 3 * x**3 - 0.05 * x**4
    fp = lambda x: -3.0 + 1.4 * x - 0.6 * x**2
    exact = F(t) - F(t[0])
    trap_err = dt**2 / 12.0 * (fp(t) - fp(t[0]))  # Euler–Maclaurin, exact for cubics
    np.testing.assert_allclose(got, exact + trap_err, rtol=1e-12, atol=1e-13)
    # linear: exact
    lin = np.asarray(cumulative_trapezoid(jnp.asarray(1.5 - 2.0 * t), dt))
    np.testing.assert_allclose(lin, 1.5 * (t - t[0]) - (t**2 - t[0] ** 2), atol=1e-13)


# -------------------------------------------------------------- g2 vs NumPy reference
CASES = [
    (mode, conv, angles, regime)
    for mode in MODES
    for conv in CONVENTIONS
    for angles in ANGLE_SETS
    for regime in REGIMES
]


@pytest.mark.parametrize(("mode", "convention", "angles", "regime"), CASES)
def test_g2_matches_reference(mode, convention, angles, regime):
    seed = list(REGIMES).index(regime)
    rng = np.random.default_rng(
        [MODES.index(mode), CONVENTIONS.index(convention), list(ANGLE_SETS).index(angles), seed]
    )
    phi = ANGLE_SETS[angles]
    n_t = (20, 41, 41)[seed]  # the last two share shapes (one compilation)
    physical, q, L, dt, t = draw_case(rng, mode, convention, phi, n_t, regime)
    contrast, offset = draw_scaling(rng, phi.size)
    if seed == 0:  # scalar contrast/offset broadcast to every angle
        contrast, offset = np.asarray(contrast[0]), np.asarray(offset[0])

    got = model(physical, contrast, offset, t, phi, q, L, mode, convention)
    ref = ref_g2(physical, contrast, offset, t, phi, q=q, L=L, mode=mode, convention=convention)
    assert got.shape == (phi.size, n_t, n_t)
    assert np.all(np.isfinite(got))
    # Both sides evaluate the same float64 formula; with offset ≥ 0.5 g2 is O(1) and the
    # rounding differences (cumulative sums of n_t terms, exp, sin) are ~n_t·eps ≈ 1e-14,
    # a little more where C[j] − C[i] cancels (negative exponents, rates changing sign):
    # ≤ 2e-14 observed over these draws, so 1e-12 leaves a ~50× margin.
    rel = np.abs(got - ref) / np.abs(ref)
    assert rel.max() <= 1e-12, (rel.max(), np.unravel_index(rel.argmax(), rel.shape))

    # The bare factor K = (g2 − offset)/contrast, checked with contrast 1, offset 0 so
    # that tiny values (deep decay, sinc zeros, homodyne floors) are not hidden by the
    # offset.  Relative error of exp(−E) is E·(relative error of E) (E = q²∫D), and near
    # zeros of the sinc only an absolute error makes sense: rounding of the phase moves
    # sinc² by ≲ a few n_t·eps absolutely, times the diffusion factor exp(−E) in front
    # of it; 1e-14·exp(−E) (~50 eps) bounds that.  Scaling this floor by exp(−E) keeps
    # deep-decay values (and the homodyne floor g1² = 1e-20 there) checked relatively.
    one, zero = np.ones_like(contrast), np.zeros_like(offset)  # same shapes: no recompile
    bare = model(physical, one, zero, t, phi, q, L, mode, convention)
    bare_ref = ref_g2(physical, one, zero, t, phi, q=q, L=L, mode=mode, convention=convention)
    expo = ref_log_decay_exponent(physical, t, q=q, convention=convention)
    tol = (1e-12 * np.abs(bare_ref) * (1.0 + expo) + 1e-14 * np.exp(-expo)) + 1e-300
    err = np.abs(bare - bare_ref)
    assert np.all(err <= tol), (err.max(), np.unravel_index((err / tol).argmax(), err.shape))


def test_g2_homodyne_floor_reached():
    """Deep decay: homodyne g1 floors at 1e-10, so g2 = offset + contrast·1e-20."""
    phys = np.array([1e5, 0.5, 1e3, 1e-2, 0.5, 0.0, 0.0])
    t = np.arange(20) * 1.0
    phi = np.array([0.0, 90.0])
    bare = model(phys, 1.0, 0.0, t, phi, 1e-2, 1e6, "laminar_flow", "homodyne")
    far = bare[:, 0, -1]
    np.testing.assert_array_equal(far, np.full(2, HOMODYNE_FLOOR**2))
    assert bare.min() >= HOMODYNE_FLOOR**2
    paper = model(phys, 1.0, 0.0, t, phi, 1e-2, 1e6, "laminar_flow", "paper")
    assert paper[:, 0, -1].max() < 1e-100  # no floor in the paper convention


# ------------------------------------------------------------------- analytic limits
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("start", [0, 7])
def test_constant_rates_closed_form(convention, start):
    """α = β = 0, zero offsets: ∫D = D0|Δt|, Γ = γ̇0 Δt exactly under the trapezoid rule."""
    D0, gdot0, phi0 = 1e4, 1e-3, 4.0
    q, L, dt, n_t = 1e-2, 1e6, 0.1, 30
    t = (start + np.arange(n_t)) * dt
    phi = np.array([-30.0, 0.0, 60.0, 94.0, 200.0])
    phys = np.array([D0, 0.0, 0.0, gdot0, 0.0, 0.0, phi0])
    got = model(phys, 1.0, 0.0, t, phi, q, L, "laminar_flow", convention)

    lag = (np.arange(n_t)[None, :] - np.arange(n_t)[:, None]) * dt  # t_j − t_i
    int_d = np.sqrt((D0 * lag) ** 2 + 1e-12 * dt**2)  # smooth |·| of the design
    cos = np.cos(np.deg2rad(phi0 - phi))[:, None, None]
    if convention == "paper":
        x = 0.5 * q * L * cos * gdot0 * lag[None]
        expect = np.exp(-(q**2) * int_d)[None] * np.sinc(x / np.pi) ** 2
    else:
        x = q * L * cos * gdot0 * lag[None] / (2 * np.pi)
        g1 = np.exp(-0.5 * q**2 * int_d)[None] * np.sinc(x / np.pi) ** 2
        expect = np.maximum(g1, 1e-10) ** 2
    # decay exponent ≤ q²·D0·3 s = 3 and phases ≤ 15 rad: rounding ≲ 1e-14 absolute.
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-14)
    assert got.min() < 0.2  # the case is not trivially flat


def test_linear_rate_closed_form_with_half_step():
    """α = 1 from t = 0: the trapezoid integrates D0·t + D_off exactly, except that the
    first sample uses t_safe = dt/2, adding D0·dt²/4 to every C[k ≥ 1]."""
    D0, Doff, q, dt, n_t = 2e3, -50.0, 3e-3, 0.2, 25
    t = np.arange(n_t) * dt
    phys = np.array([D0, 1.0, Doff])
    got = model(phys, 1.0, 0.0, t, np.array([0.0]), q, 1e6, "static_isotropic", "paper")
    c = 0.5 * D0 * t**2 + Doff * t + np.where(t > 0, 0.25 * D0 * dt**2, 0.0)
    int_d = np.sqrt((c[None, :] - c[:, None]) ** 2 + 1e-12 * dt**2)
    np.testing.assert_allclose(got[0], np.exp(-(q**2) * int_d), rtol=1e-12)


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("seed", range(3))
def test_static_equals_laminar_perpendicular_to_flow(convention, seed):
    rng = np.random.default_rng(300 + seed)
    phys = draw_physical(rng, "laminar_flow")
    q, L, dt, t = draw_setting(rng, 24)
    phi = np.array([phys[6] + 90.0, phys[6] - 90.0])
    contrast, offset = draw_scaling(rng, 2)
    lam = model(phys, contrast, offset, t, phi, q, L, "laminar_flow", convention)
    sta = model(phys[:3], contrast, offset, t, phi, q, L, "static_isotropic", convention)
    # cos(±90°) in float64 is ~6e-17 (plus rounding of φ0 ± 90): the sinc argument is
    # ≲ 1e-6 at worst here, so sinc² = 1 − O(1e-13).
    np.testing.assert_allclose(lam, sta, rtol=1e-12)


# ------------------------------------------------------------------------- symmetries
@pytest.fixture(scope="module")
def symmetric_case():
    rng = np.random.default_rng(400)
    phys = draw_physical(rng)
    phys[3] = 2e-3  # informative shear
    q, L, t = 5e-3, 1e6, np.arange(32) * 0.05
    phys[0], phys[2] = 2e3, 50.0
    phi = np.array([-40.0, 10.0, 35.0, 170.0])
    contrast, offset = draw_scaling(rng, phi.size)
    return phys, contrast, offset, t, phi, q, L


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("mode", MODES)
def test_g2_symmetric_in_t1_t2(symmetric_case, mode, convention):
    phys, contrast, offset, t, phi, q, L = symmetric_case
    phys = phys if mode == "laminar_flow" else phys[:3]
    g2 = model(phys, contrast, offset, t, phi, q, L, mode, convention)
    # smooth |·| is exactly even; sinc(−x) = sinc(x) up to the sin implementation
    np.testing.assert_allclose(g2, np.swapaxes(g2, 1, 2), rtol=4 * EPS, atol=0)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_shear_factor_invariant_under_phi_plus_180(symmetric_case, convention):
    phys, contrast, offset, t, phi, q, L = symmetric_case
    a = model(phys, contrast, offset, t, phi, q, L, "laminar_flow", convention)
    b = model(phys, contrast, offset, t, phi + 180.0, q, L, "laminar_flow", convention)
    c = model(phys, contrast, offset, t, phi - 360.0, q, L, "laminar_flow", convention)
    # cos(φ0 − φ − π) = −cos(φ0 − φ) up to rounding of the angle (~1e-15 rad); phases
    # here are ≲ 10, so the change in sinc² is ≲ 1e-14.
    np.testing.assert_allclose(b, a, rtol=1e-12)
    np.testing.assert_allclose(c, a, rtol=1e-12)
    assert np.ptp(a, axis=0).max() > 1e-2  # the angles really differ


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("mode", MODES)
def test_diagonal_is_offset_plus_contrast(symmetric_case, mode, convention):
    phys, contrast, offset, t, phi, q, L = symmetric_case
    phys = phys if mode == "laminar_flow" else phys[:3]
    dt = t[1] - t[0]
    g2 = model(phys, contrast, offset, t, phi, q, L, mode, convention)
    diag = np.diagonal(g2, axis1=1, axis2=2)
    np.testing.assert_allclose(diag, (offset + contrast)[:, None] * np.ones_like(t), rtol=1e-9)
    # precisely: the smoothing ε = 1e-12·dt² leaves exp(−q²·1e-6·dt) on the diagonal
    expect = offset[:, None] + contrast[:, None] * math.exp(-(q**2) * 1e-6 * dt)
    np.testing.assert_allclose(diag, expect * np.ones_like(t), rtol=4 * EPS)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_jit_matches_eager(symmetric_case, convention):
    phys, contrast, offset, t, phi, q, L = symmetric_case
    eager = model(phys, contrast, offset, t, phi, q, L, "laminar_flow", convention, jit=False)
    jitted = model(phys, contrast, offset, t, phi, q, L, "laminar_flow", convention)
    ref = ref_g2(phys, contrast, offset, t, phi, q=q, L=L, convention=convention)
    np.testing.assert_allclose(eager, ref, rtol=1e-12)
    np.testing.assert_allclose(jitted, eager, rtol=1e-13)


def test_integer_inputs_are_promoted_to_float():
    """Integer-valued arrays (e.g. `jnp.asarray([1000, 1, 10])`, `np.arange(0, 360, 45)`,
    `np.arange(n_t)`) must give the same g2 as their float64 versions: float64 everywhere,
    never a silent cast of q, L or φ to the dtype of an integer input."""
    phys_i = np.array([1000, 1, 10, 1, 0, 0, 0])
    phi_i, t_i = np.arange(0, 360, 45), np.arange(6)
    expect = ref_g2(phys_i.astype(float), 0.5, 1.0, t_i.astype(float), phi_i, q=5e-3, L=1e3)
    for phys, t, phi in [(phys_i, t_i * 1.0, phi_i * 1.0), (phys_i * 1.0, t_i, phi_i)]:
        got = np.asarray(g2_model(jnp.asarray(phys), 0.5, 1.0, t, phi, q=5e-3, L=1e3))
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expect, rtol=1e-12)


def test_bad_mode_convention_and_parameter_count_raise():
    t, phi = jnp.arange(4) * 0.1, jnp.array([0.0])
    phys7 = jnp.array([1e3, 0.5, 10.0, 1e-2, 0.5, 0.0, 0.0])
    with pytest.raises(ValueError, match="mode"):
        g2_model(phys7, 0.5, 1.0, t, phi, q=1e-3, L=1e6, mode="laminar")
    with pytest.raises(ValueError, match="convention"):
        g2_model(phys7, 0.5, 1.0, t, phi, q=1e-3, L=1e6, convention="Paper")
    with pytest.raises(ValueError, match="physical"):
        g2_model(phys7[:3], 0.5, 1.0, t, phi, q=1e-3, L=1e6, mode="laminar_flow")
    with pytest.raises(ValueError, match="physical"):
        g2_model(phys7, 0.5, 1.0, t, phi, q=1e-3, L=1e6, mode="static_isotropic")


# ------------------------------------------------------------------------- gradients
PARAM_MIN_SCALE = {  # typical magnitude of each physical parameter (FD step = 1e-6·scale)
    "laminar_flow": np.array([1e2, 1.0, 1e2, 1e-6, 1.0, 1e-6, 1.0]),
    "static_isotropic": np.array([1e2, 1.0, 1e2]),
}


def _draw_gradient_case(rng, mode, convention, *, t0_zero, negative_exponents):
    """Random point in the bounds with moderate sinc phase (≤ 50 rad), so that the
    central difference resolves the oscillation (see the tolerance comment)."""
    n_t, phi = 16, np.array([-20.0, 30.0, 100.0])
    span = (-2.0, -0.5) if negative_exponents else (-2.0, 2.0)
    for _ in range(500):
        phys = draw_physical(rng, mode, alpha=span, beta=span)
        q, L, dt, t = draw_setting(rng, n_t, t0_zero=t0_zero)
        if max_phase(phys, t, phi, q, L, convention) <= 50.0:
            contrast, offset = draw_scaling(rng, phi.size)
            return phys, contrast, offset, t, phi, q, L
    raise AssertionError("no admissible draw")  # pragma: no cover


GRAD_CASES = [
    (mode, conv, seed, t0_zero, neg)
    for conv in CONVENTIONS
    for (mode, seed, t0_zero, neg) in [
        ("laminar_flow", 0, False, False),  # random point, grid away from t = 0
        ("laminar_flow", 1, True, False),  # grid from t = 0
        ("laminar_flow", 2, True, True),  # grid from t = 0, α, β < 0
        ("static_isotropic", 2, True, True),
    ]
]


@pytest.mark.parametrize(("mode", "convention", "seed", "t0_zero", "negative"), GRAD_CASES)
def test_gradients_match_finite_differences(mode, convention, seed, t0_zero, negative):
    rng = np.random.default_rng([7, MODES.index(mode), CONVENTIONS.index(convention), seed])
    phys, contrast, offset, t, phi, q, L = _draw_gradient_case(
        rng, mode, convention, t0_zero=t0_zero, negative_exponents=negative
    )
    n_phi, n_t, n_p = phi.size, t.size, phys.size
    w = jnp.asarray(rng.normal(size=(n_phi, n_t, n_t)))
    t_j, phi_j = jnp.asarray(t), jnp.asarray(phi)

    def g2(p, c, o):
        return g2_model(p, c, o, t_j, phi_j, q=q, L=L, mode=mode, convention=convention)

    def objective(flat):
        p, c, o = flat[:n_p], flat[n_p : n_p + n_phi], flat[n_p + n_phi :]
        return jnp.sum(w * g2(p, c, o))

    flat = np.concatenate([phys, contrast, offset])
    scales = np.maximum(
        np.abs(flat), np.concatenate([PARAM_MIN_SCALE[mode], np.full(2 * n_phi, 0.1)])
    )
    steps = np.diag(1e-6 * scales)
    points = np.concatenate([flat + steps, flat - steps])

    @jax.jit  # one compilation per case for everything below
    def evaluate(flat, points):
        p, c, o = flat[:n_p], flat[n_p : n_p + n_phi], flat[n_p + n_phi :]
        return (
            jax.grad(objective)(flat),  # reverse mode
            jax.jacfwd(g2, argnums=(0, 1, 2))(p, c, o),  # forward mode, full Jacobian
            jnp.sum(jnp.abs(w * g2(p, c, o))),
            jax.vmap(objective)(points),
        )

    ad, jac, sum_abs, values = evaluate(jnp.asarray(flat), jnp.asarray(points))
    ad, sum_abs, values = np.asarray(ad), float(sum_abs), np.asarray(values)
    jac = np.concatenate([np.asarray(j) for j in jac], axis=-1)
    assert np.all(np.isfinite(ad))
    assert np.all(np.isfinite(jac))

    # forward mode contracted with w must agree with reverse mode.  Both differentiate
    # sin(x)/x for |x| ≥ 1e-4, where (cos x − sinc x)/x cancels and carries a relative
    # error up to ~eps/x² ≈ 4e-8 (sinc' ≈ −x/3 is tiny there), so compare in the
    # parameter's natural scale: 1e-9 relative plus 1e-12·Σ|w·g2|.
    contracted = np.tensordot(np.asarray(w), jac, axes=3)
    np.testing.assert_array_less(
        np.abs(contracted - ad) * scales, 1e-9 * np.abs(ad) * scales + 1e-12 * sum_abs
    )

    # Central differences with step h = 1e-6·scale (all 2·n_params points in one vmapped
    # call).  In the scaled variable the truncation error is ~h_rel²·f''' ≈ 1e-12
    # (phases ≤ 50 rad and E^k·exp(−E) = O(1) keep f''' modest); rounding: each sum
    # carries ≲ n_t·eps·Σ|w·g2| ≈ 1e-14·Σ|w·g2|, divided by 2·h_rel → ≲ 1e-8·Σ|w·g2|.
    # Hence relative 1e-6 on the scaled derivative plus an absolute 1e-8·Σ|w·g2| for
    # weakly coupled parameters.
    atol = 1e-8 * sum_abs
    fd = (values[: flat.size] - values[flat.size :]) / (2e-6 * scales)

    names = list(LAMINAR_NAMES[:n_p])
    names += [f"contrast[{a}]" for a in range(n_phi)] + [f"offset[{a}]" for a in range(n_phi)]
    err = np.abs(ad - fd) * scales
    tol = 1e-6 * np.abs(ad) * scales + atol
    bad = [f"{names[k]}: autodiff {ad[k]!r} vs FD {fd[k]!r}" for k in np.flatnonzero(err > tol)]
    assert not bad, bad


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_gradients_finite_extreme_negative_exponents_from_t_zero(convention):
    """α = β = −2 at t = 0 with the smallest dt: huge rates at t_safe = dt/2 and deep
    underflow; every gradient must still be finite (no NaN from 0·inf or sinc at 0)."""
    t = jnp.arange(12) * 1e-3
    phi = jnp.array([0.0, 45.0, 90.0])
    phys = jnp.array([1e5, -2.0, -1e5, 0.5, -2.0, -0.1, 10.0])
    c, o = jnp.full(3, 0.5), jnp.ones(3)

    def g2(p, c, o):
        return g2_model(p, c, o, t, phi, q=1e-2, L=3e6, convention=convention)

    @jax.jit
    def derivatives(p, c, o):
        objective = lambda p, c, o: jnp.sum(g2(p, c, o) ** 2)
        return jax.grad(objective, argnums=(0, 1, 2))(p, c, o), jax.jacfwd(g2, argnums=(0, 1, 2))(
            p, c, o
        )

    for leaf in jax.tree_util.tree_leaves(derivatives(phys, c, o)):
        assert np.all(np.isfinite(np.asarray(leaf)))
