"""jit, vmap and grad through the one fit pipeline; implicit derivatives against refits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xpcsfit
from fit_cases import make_case
from xpcsfit import FitConfig

TIGHT = dict(ftol=1e-14, xtol=1e-14, gtol=1e-14)
jit_fit = jax.jit(xpcsfit.fit, static_argnames="config")


def _laminar5(seed=4, n_t=24):
    return make_case("laminar_flow", n_phi=5, n_t=n_t, seed=seed)[0]


@pytest.mark.parametrize("per_angle_mode", ["individual", "fourier", "varpro"])
def test_jit_fit_equals_host_fit_with_recovery(per_angle_mode):
    """5 angles (so Fourier of order 1 and the defense layers' monitor are in play)."""
    data = _laminar5()
    cfg = FitConfig.create(per_angle_mode=per_angle_mode, fourier_order=1, recovery=True,
                           initial={"D0": 4.5e3, "gamma_dot_t0": 3e-4, "phi0": 4.5})
    host = xpcsfit.fit(data, cfg)
    traced = jit_fit(data, config=cfg)
    assert host.device_info["per_angle_mode"] == per_angle_mode
    # The same compiled pipeline, entered from inside another jit: equal to rounding.
    np.testing.assert_allclose(traced.parameters, host.parameters, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(traced.chi_squared, host.chi_squared, rtol=1e-10)
    np.testing.assert_allclose(traced.uncertainties, host.uncertainties, rtol=1e-6)
    # Traced results keep their names and accessors.
    assert traced.parameter_names == host.parameter_names
    np.testing.assert_allclose(traced.value("phi0"), host.value("phi0"), rtol=1e-8)
    assert set(traced.physical()) == set(host.physical())
    assert traced.quality_flag == host.quality_flag


def test_vmap_over_datasets_equals_a_loop():
    cases = [_laminar5(seed) for seed in range(4)]
    batch = jax.tree.map(lambda *xs: jnp.stack(xs), *cases)
    cfg = FitConfig.create(per_angle_mode="individual",
                           initial={"D0": 4.5e3, "gamma_dot_t0": 3e-4, "phi0": 4.5})
    out = jax.vmap(lambda d: xpcsfit.fit(d, cfg))(batch)
    for k, data in enumerate(cases):
        alone = xpcsfit.fit(data, cfg)
        np.testing.assert_allclose(out.parameters[k], alone.parameters, rtol=1e-8, atol=1e-12)
        assert bool(out.success[k])


def test_streaming_under_jit_is_refused_naming_the_strategy():
    cfg = FitConfig.create(strategy="hybrid_streaming")
    with pytest.raises(ValueError, match="optimization.nlsq.strategy"):
        jit_fit(_laminar5(), config=cfg)


def _moved(data, **changes):
    fields = dict(g2=data.g2, sigma=data.sigma, t=data.t, phi=data.phi, q=data.q, L=data.L,
                  dt=data.dt)
    fields.update(changes)
    return data.__class__(**fields)


def test_grad_of_fitted_shear_rate_wrt_q_matches_refits_and_physics():
    """Laminar flow, 3 angles: d γ̇0/dq by the implicit rule vs refits, and vs physics."""
    data, _ = make_case("laminar_flow", n_phi=3, n_t=20, noise=0.005, seed=3)
    cfg = FitConfig.create(per_angle_mode="individual", **TIGHT,
                           initial={"D0": 4e3, "gamma_dot_t0": 3e-4, "alpha": 0.7,
                                    "beta": 0.5, "phi0": 4.0})

    def shear_rate(q):
        return xpcsfit.fit(_moved(data, q=q), cfg).value("gamma_dot_t0")

    q = data.q
    grad = jax.grad(shear_rate)(q)  # no outer jit: the compiled pipeline runs
    _, tangent = jax.jvp(shear_rate, (q,), (jnp.ones_like(q),))
    np.testing.assert_allclose(tangent, grad, rtol=1e-10)
    f = jax.jit(jax.vmap(shear_rate))
    h = 1e-3 * q
    # Central difference (the refits one vmapped fit): gamma_dot_0(q) = c/q exactly (below),
    # so the truncation is (h/q)^2 = 1e-6 relative; refit noise at tolerances 1e-14 is
    # ~1e-12 relative, divided by h/q = 1e-3 -> ~1e-9.
    plus, minus, at = f(jnp.stack([q + h, q - h, q]))
    np.testing.assert_allclose(grad, (plus - minus) / (2 * h), rtol=3e-6)
    # The model depends on q only through q*gamma_dot and q^2*D, so gamma_dot_0(q) =
    # gamma_dot_0(q0)*q0/q exactly: d gamma_dot_0/dq = -gamma_dot_0/q.
    np.testing.assert_allclose(grad, -at / q, rtol=1e-6)


def test_grad_wrt_data_matches_refits():
    data, _ = make_case("static_isotropic", n_phi=2, n_t=20, noise=0.01, seed=5)
    cfg = FitConfig.create(analysis_mode="static_isotropic", per_angle_mode="individual",
                           **TIGHT)
    w = jnp.asarray(np.random.default_rng(0).normal(size=data.g2.shape))

    def alpha_of(eps):
        # D_offset held: with it free, D0, alpha and D_offset are nearly collinear, Gauss–
        # Newton converges only linearly on this χ²_red ≈ 1 problem and the refits settle
        # alpha to ~1e-9 (a finite difference then drifts by 1e-4 at h = 1e-5).
        return xpcsfit.fit(_moved(data, g2=data.g2 + eps * w), cfg,
                           fixed={"D_offset": 0.0}).value("alpha")

    grad = jax.grad(alpha_of)(0.0)
    f = jax.jit(jax.vmap(alpha_of))
    h = 1e-3
    # 4-point stencil (the 4 refits as one vmapped fit): truncation O(h^4) ~ 1e-9 relative
    # (h = 1e-3 is 0.1 of the noise); refit noise ~1e-12 at tolerances 1e-14, over h ~1e-9.
    # Measured: 2e-8.
    a = f(jnp.asarray([h, -h, 2 * h, -2 * h]))
    fd = (8 * (a[0] - a[1]) - (a[2] - a[3])) / (12 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)


def test_gradient_descent_on_q_through_the_fit_converges():
    """Outer model: choose q so that the fitted D0 equals a known D0 (q²·D0 is identified)."""
    data, truth = make_case("static_isotropic", n_phi=2, n_t=30, noise=0.005, seed=7)
    cfg = FitConfig.create(analysis_mode="static_isotropic", per_angle_mode="individual")
    d0_true = truth["physical"][0]

    def fitted_d0(q):
        return xpcsfit.fit(_moved(data, q=q), cfg).value("D0")

    loss = jax.jit(jax.value_and_grad(
        lambda log_q: (jnp.log(fitted_d0(jnp.exp(log_q))) - jnp.log(d0_true)) ** 2))
    log_q = jnp.log(data.q * 1.3)
    for _ in range(40):
        value, grad = loss(log_q)
        log_q = log_q - 0.2 * grad
    # The static model depends on q only through q²·D0 and q²·D_offset, so
    # D0_fit(q) = D0_fit(q0)·q0²/q² exactly and the loss (log D0_fit − log D0_true)² is a
    # quadratic in log q with curvature 8: steps of 0.2 contract the error by 0.6 → 1e-9
    # after 40 steps. Its minimiser is q* = q0·sqrt(D0_fit(q0)/D0_true).
    assert float(value) < 1e-12
    q_star = data.q * np.sqrt(float(fitted_d0(data.q)) / d0_true)
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

    jac = jax.jit(jax.jacrev(solution))(y)
    # Forward mode (jvp/jacfwd) comes from the same implicit rule: identical to reverse.
    np.testing.assert_allclose(jax.jit(jax.jacfwd(solution))(y), jac, rtol=1e-10, atol=1e-14)
    f = jax.jit(jax.vmap(solution))
    # Misra1a is ill-conditioned: refits resolve b to ~1e-10 relative, so the stencil step
    # must be large for refit noise/h to stay below 1e-6; the solution is smooth in y, so
    # the O(h⁴) truncation of the 4-point stencil at h = 0.1 (y ~ 10–80) is ~1e-8. All
    # 12 refits run as one vmapped solve.
    h = 0.1
    cols = (0, 6, 13)
    steps = jnp.asarray([s * h for s in (1, -1, 2, -2)])
    e = jnp.eye(y.shape[0])[jnp.asarray(cols)]
    ys = (y[None, None, :] + steps[None, :, None] * e[:, None, :]).reshape(-1, y.shape[0])
    sol = f(ys).reshape(len(cols), 4, -1)
    fd = (8 * (sol[:, 0] - sol[:, 1]) - (sol[:, 2] - sol[:, 3])) / (12 * h)
    np.testing.assert_allclose(jac[:, jnp.asarray(cols)].T, fd, rtol=1e-6)
