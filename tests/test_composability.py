"""jit, vmap and grad through fits; implicit derivatives against finite differences."""

import jax
import jax.numpy as jnp
import numpy as np

import xpcsfit
from fit_cases import make_case
from xpcsfit import FitConfig
from xpcsfit.fitting.functional import fit_arrays

TIGHT = dict(ftol=1e-14, xtol=1e-14, gtol=1e-14)


def _static_case(seed, n_t=30, noise=0.01):
    return make_case("static_isotropic", n_phi=2, n_t=n_t, noise=noise, seed=seed)


def test_jit_fit_equals_host_fit():
    data, _ = make_case("laminar_flow", n_phi=3, n_t=30, seed=4)
    cfg = FitConfig(analysis_mode="laminar_flow", per_angle_mode="individual",
                    initial_values=(("D0", 4.5e3), ("gamma_dot_t0", 3e-4), ("phi0", 4.5)))
    host = xpcsfit.fit(data, cfg)
    traced = jax.jit(xpcsfit.fit, static_argnames="config")(data, config=cfg)
    # Same solver and start; only compilation boundaries differ → identical to rounding.
    np.testing.assert_allclose(traced.parameters, host.parameters, rtol=1e-8)
    np.testing.assert_allclose(traced.chi_squared, host.chi_squared, rtol=1e-10)
    np.testing.assert_allclose(traced.uncertainties, host.uncertainties, rtol=1e-6)


def test_vmap_over_datasets_equals_separate_fits():
    cases = [_static_case(seed) for seed in range(6)]
    batch = jax.tree.map(lambda *xs: jnp.stack(xs), *[c[0] for c in cases])
    cfg = FitConfig(analysis_mode="static_isotropic", per_angle_mode="individual")
    out = jax.vmap(lambda d: fit_arrays(d, cfg))(batch)
    single = jax.jit(fit_arrays, static_argnames="config")
    for k, (data, _) in enumerate(cases):
        alone = single(data, config=cfg)
        np.testing.assert_allclose(out.parameters[k], alone.parameters, rtol=1e-8)
        assert bool(out.success[k])


def _fitted_d0(q, data, cfg):
    moved = data.__class__(data.g2, data.sigma, data.t, data.phi, q, data.L, data.dt)
    return fit_arrays(moved, cfg).parameters[2 * data.n_phi]


def test_grad_of_fitted_shear_rate_wrt_q_matches_refits():
    """Laminar flow, 3 angles: d γ̇0/dq by the implicit rule vs refits, and vs physics."""
    data, _ = make_case("laminar_flow", n_phi=3, n_t=24, noise=0.005, seed=3)
    cfg = FitConfig(analysis_mode="laminar_flow", per_angle_mode="individual", **TIGHT,
                    initial_values=(("D0", 4e3), ("gamma_dot_t0", 3e-4), ("alpha", 0.7),
                                    ("beta", 0.5), ("phi0", 4.0)))
    index = 2 * data.n_phi + 3  # gamma_dot_t0

    def shear_rate(q):
        moved = data.__class__(data.g2, data.sigma, data.t, data.phi, q, data.L, data.dt)
        return fit_arrays(moved, cfg).parameters[index]

    q = data.q
    grad = jax.grad(shear_rate)(q)
    _, tangent = jax.jvp(shear_rate, (q,), (jnp.ones_like(q),))
    np.testing.assert_allclose(tangent, grad, rtol=1e-10)
    f = jax.jit(shear_rate)
    h = 1e-3 * q
    # 4-point central stencil: truncation O(h⁴) ~ 1e-12 relative; refit noise at
    # tolerances 1e-14 is ~1e-12 relative in γ̇0, divided by h/q = 1e-3 → ~1e-9.
    fd = (8 * (f(q + h) - f(q - h)) - (f(q + 2 * h) - f(q - 2 * h))) / (12 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5)
    # The model depends on q only through q·γ̇ and q²·D, so γ̇0(q) = γ̇0(q0)·q0/q exactly:
    # d γ̇0/dq = −γ̇0/q.
    np.testing.assert_allclose(grad, -f(q) / q, rtol=1e-6)


def test_grad_wrt_data_matches_refits():
    data, _ = _static_case(5, n_t=24, noise=0.01)
    cfg = FitConfig(analysis_mode="static_isotropic", per_angle_mode="individual", **TIGHT)
    w = jnp.asarray(np.random.default_rng(0).normal(size=data.g2.shape))

    def alpha_of(eps):
        moved = data.__class__(data.g2 + eps * w, data.sigma, data.t, data.phi, data.q,
                               data.L, data.dt)
        return fit_arrays(moved, cfg).parameters[2 * data.n_phi + 1]

    grad = jax.grad(alpha_of)(0.0)
    f = jax.jit(alpha_of)
    h = 1e-4
    fd = (8 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


def test_gradient_descent_on_q_through_the_fit_converges():
    """Outer model: choose q so that the fitted D0 equals a known D0 (q²·D0 is identified)."""
    data, truth = _static_case(7, n_t=40, noise=0.005)
    cfg = FitConfig(analysis_mode="static_isotropic", per_angle_mode="individual")
    d0_true = truth["physical"][0]
    loss = jax.jit(jax.value_and_grad(
        lambda log_q: (jnp.log(_fitted_d0(jnp.exp(log_q), data, cfg)) - jnp.log(d0_true)) ** 2))
    log_q = jnp.log(data.q * 1.3)
    for _ in range(40):
        value, grad = loss(log_q)
        log_q = log_q - 0.2 * grad
    # The static model depends on q only through q²·D0 and q²·D_offset, so
    # D0_fit(q) = D0_fit(q0)·q0²/q² exactly and the loss (log D0_fit − log D0_true)² is a
    # quadratic in log q with curvature 8: steps of 0.2 contract the error by 0.6 → 1e-9
    # after 40 steps. Its minimiser is q* = q0·sqrt(D0_fit(q0)/D0_true).
    assert float(value) < 1e-12
    q_star = data.q * np.sqrt(float(_fitted_d0(data.q, data, cfg)) / d0_true)
    np.testing.assert_allclose(np.exp(log_q), q_star, rtol=1e-6)


def test_least_squares_grad_on_misra1a():
    """Implicit derivative of the NIST Misra1a solution w.r.t. the observations."""
    x = jnp.array([77.6, 114.9, 141.1, 190.8, 239.9, 289.0, 332.8, 378.4, 434.8, 477.3,
                   536.8, 593.1, 689.1, 760.0])
    y = jnp.array([10.07, 14.73, 17.94, 23.93, 29.61, 35.18, 40.02, 44.82, 50.76, 55.05,
                   61.01, 66.40, 75.47, 81.78])

    def solution(yy):
        res = xpcsfit.least_squares(lambda b, yv: b[0] * (1 - jnp.exp(-b[1] * x)) - yv,
                                    jnp.array([500.0, 1e-4]), args=(yy,), **TIGHT)
        return res.x

    jac = jax.jacrev(solution)(y)
    # Forward mode (jvp/jacfwd) comes from the same implicit rule: identical to reverse.
    np.testing.assert_allclose(jax.jacfwd(solution)(y), jac, rtol=1e-10, atol=1e-14)
    f = jax.jit(solution)
    # Misra1a is ill-conditioned: refits resolve b to ~1e-10 relative, so the stencil step
    # must be large for refit noise/h to stay below 1e-6; the solution is smooth in y, so
    # the O(h⁴) truncation of the 4-point stencil at h = 0.1 (y ~ 10–80) is ~1e-8.
    h = 0.1
    for i in (0, 6, 13):
        e = jnp.zeros_like(y).at[i].set(1.0)
        fd = (8 * (f(y + h * e) - f(y - h * e)) - (f(y + 2 * h * e) - f(y - 2 * h * e))) / (12 * h)
        np.testing.assert_allclose(jac[:, i], fd, rtol=1e-6)
