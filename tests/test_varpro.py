"""Variable projection: the generic transform (solvers/separable.py) and per_angle_mode="varpro"."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import xpcsfit
from fit_cases import LAMINAR_TRUTH as LAMINAR
from fit_cases import PHYSICAL_NAMES
from problems import load_nist
from xpcsfit.solvers.separable import linear_solution, project, separable_solve
from xpcsfit.solvers.trust_region import trust_region_solve

# Gauss2 (NIST StRD, higher difficulty): b0·e^(−b1·x) + b2·e^(−(x−b3)²/b4²) + b5·e^(−(x−b6)²/b7²).
# Linear: b0, b2, b5. The separable layout puts them first: x = (ℓ, θ).
GAUSS2 = load_nist("Gauss2")
LINEAR, NONLINEAR = [0, 2, 5], [1, 3, 4, 6, 7]
ORDER = np.array(LINEAR + NONLINEAR)
UNORDER = np.argsort(ORDER)
TIGHT = dict(ftol=1e-14, xtol=1e-14, gtol=1e-14)


def _residual(x, xs, y):
    return GAUSS2.fun(x[UNORDER], xs, y)


def _evaluate(x, xs, y):
    r = _residual(x, xs, y)
    J = jax.jacfwd(_residual)(x, xs, y)
    return 0.5 * r @ r, J.T @ J, J.T @ r


def _start(k=0):
    return jnp.asarray(GAUSS2.starts[k][ORDER])


def test_generic_separable_matches_certified_scipy_and_full_solve():
    x0 = _start(0)
    inf = jnp.full(5, jnp.inf)
    res = jax.jit(lambda x0: separable_solve(_evaluate, x0[:3], x0[3:], -inf, inf,
                                             args=GAUSS2.args, **TIGHT))(x0)
    assert bool(res.success)
    # NIST certifies 11 significant digits; the fit stops at ftol 1e-14, far below 1e-8.
    np.testing.assert_allclose(res.x, GAUSS2.certified[ORDER], rtol=1e-8)
    ref = scipy.optimize.least_squares(
        lambda x: np.asarray(_residual(jnp.asarray(x), *GAUSS2.args)), np.asarray(x0),
        jac=lambda x: np.asarray(jax.jacfwd(_residual)(jnp.asarray(x), *GAUSS2.args)),
        method="trf", ftol=1e-14, xtol=1e-14, gtol=1e-14)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-8)
    np.testing.assert_allclose(res.cost, ref.cost, rtol=1e-10)
    full = trust_region_solve(_evaluate, x0, jnp.full(8, -jnp.inf), jnp.full(8, jnp.inf),
                              args=GAUSS2.args, **TIGHT)
    np.testing.assert_allclose(res.x, full.x, rtol=1e-8)
    # The returned sums are those of the full problem at (ℓ*, θ*): gradient ≈ 0 everywhere.
    np.testing.assert_allclose(res.grad, 0.0, atol=1e-6 * float(jnp.max(jnp.abs(res.jtj))))
    assert np.all(np.asarray(res.active_mask) == 0)


def test_linear_solution_and_kaufman_gram_against_dense_algebra():
    theta = _start(1)[3:] * 1.01  # not an optimum
    xs, y = GAUSS2.args
    x_any = jnp.concatenate([jnp.ones(3), theta])
    J = np.asarray(jax.jacfwd(_residual)(x_any, xs, y))
    r0 = np.asarray(_residual(jnp.concatenate([jnp.zeros(3), theta]), xs, y))
    l_ref = jnp.asarray([5.0, -3.0, 100.0])  # any reference gives the same ℓ*
    l_star = linear_solution(_evaluate, 3, theta, l_ref, xs, y)
    expect = np.linalg.lstsq(J[:, :3], -r0, rcond=None)[0]  # QR/SVD, independent of Gram sums
    # Normal equations of a κ(J_ℓ) ≈ 1e2 block: relative error ~ κ²·eps ≈ 1e-12.
    np.testing.assert_allclose(l_star, expect, rtol=1e-10)
    cost, S, g = project(_evaluate, 3)(theta, l_ref, xs, y)
    x_star = jnp.concatenate([l_star, theta])
    J = np.asarray(jax.jacfwd(_residual)(x_star, xs, y))
    q, _ = np.linalg.qr(J[:, :3])
    J_k = J[:, 3:] - q @ (q.T @ J[:, 3:])  # Kaufman: P⊥·J_θ
    np.testing.assert_allclose(S, J_k.T @ J_k, rtol=1e-8, atol=1e-10 * np.max(np.abs(S)))
    r = np.asarray(_residual(x_star, xs, y))
    np.testing.assert_allclose(cost, 0.5 * r @ r, rtol=1e-12)
    np.testing.assert_allclose(g, J[:, 3:].T @ r, rtol=1e-10)


def test_reduced_gradient_is_derivative_of_projection_functional():
    theta = _start(1)[3:] * 1.01
    l_ref = _start(1)[:3]
    reduced = project(_evaluate, 3)
    f = jax.jit(lambda th: reduced(th, l_ref, *GAUSS2.args)[0])
    g = np.asarray(reduced(theta, l_ref, *GAUSS2.args)[2])
    fd = []
    for i in range(theta.shape[0]):
        h = 1e-5 * abs(float(theta[i]))  # central difference: O(h²) truncation, eps·f/h rounding
        e = jnp.zeros_like(theta).at[i].set(h)
        fd.append((float(f(theta + e)) - float(f(theta - e))) / (2 * h))
    # With h/θ = 1e-5 both error terms are ~1e-8 of the gradient; 1e-6 leaves margin.
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8 * np.max(np.abs(fd)))


def test_separable_bad_input():
    with pytest.raises(ValueError, match="l_ref"):
        separable_solve(_evaluate, jnp.zeros(0), _start()[3:], -jnp.inf, jnp.inf,
                        args=GAUSS2.args)
    with pytest.raises(ValueError, match="theta0"):
        separable_solve(_evaluate, _start()[:3], jnp.zeros((2, 2)), -jnp.inf, jnp.inf,
                        args=GAUSS2.args)


# ---------------------------------------------------------------- per_angle_mode="varpro"

PHI8 = np.linspace(-170.0, 170.0, 8)
# Bad per-angle start (contrast 0.05 against 0.35, offset 1.4 against 1.0): see the
# degeneracy test. The quantile start is good, so this is what a poor user guess does.
BAD_PER_ANGLE = {"contrast": 0.05, "offset": 1.4}


def _data(offset=1.0, seed=0):
    return xpcsfit.simulate(LAMINAR, 0.35, offset, n_t=30, dt=0.2, phi=PHI8, q=0.005, L=2e6,
                            noise=0.01, seed=seed)[0]


def _cfg(mode, **nlsq):
    # tolerance 1e-12: at the stop the cost is within ~1e-12·cost of the minimum, so the
    # parameters are within ~sqrt(2e-12·cost)σ ≈ 1e-4σ of it (cost ≈ n_points/2 ≈ 3.5e3).
    start = {"parameter_names": list(PHYSICAL_NAMES), "values": list(LAMINAR * 1.5)}
    return {"initial_parameters": start,
            "optimization": {"nlsq": {"tolerance": 1e-12, "recovery": False,
                                      "screening": {"enable": False}, **nlsq,
                                      "anti_degeneracy": {"per_angle_mode": mode,
                                                          "enable": False}}}}


@pytest.fixture(scope="module")
def fits():
    data = _data()
    return data, {(mode, start): xpcsfit.fit(data, _cfg(mode), init=init)
                  for mode in ("individual", "varpro")
                  for start, init in (("good", None), ("bad", BAD_PER_ANGLE))}


def test_varpro_and_individual_reach_the_same_optimum(fits):
    _, results = fits
    ind, vp = results["individual", "good"], results["varpro", "good"]
    assert ind.convergence_status == vp.convergence_status == "converged"
    assert vp.device_info["per_angle_mode"] == "varpro"
    assert vp.device_info["varpro"]["outside_bounds"] == {}
    assert not vp.device_info["defense"]["active"]
    # Same minimum: 1e-6 relative, or 1e-4σ for values near zero (D_offset, γ̇_offset; note
    # in _cfg). Measured: 3e-7 relative on D0, α, γ̇0, β, φ0; 1.2e-6σ at most.
    diff = np.abs(vp.parameters - ind.parameters)
    assert np.all(diff <= 1e-6 * np.abs(ind.parameters) + 1e-4 * ind.uncertainties), diff
    np.testing.assert_allclose(vp.chi_squared, ind.chi_squared, rtol=1e-10)
    # Covariance of all parameters, from the full JᵀJ at the optimum: the same matrix at
    # points 1e-4σ apart; κ(JᵀJ scaled) ~1e4 turns 1e-8 changes of JᵀJ into ~1e-4.
    np.testing.assert_allclose(vp.covariance, ind.covariance, rtol=1e-4,
                               atol=1e-4 * np.max(np.abs(np.diag(ind.covariance))))


def test_degenerate_start_fails_individual_but_not_varpro(fits):
    """Individual without defenses (without recovery and screening) from a bad per-angle start ends
    with γ̇0 ~1e5σ off and a physical parameter on its bound; varpro never sees that start
    (contrast/offset are solved for) and lands on the good-start optimum."""
    data, results = fits
    ind, vp, good = results["individual", "bad"], results["varpro", "bad"], results[
        "individual", "good"]
    err = abs(ind.value("gamma_dot_t0") - LAMINAR[3]) / good.uncertainty("gamma_dot_t0")
    assert err > 3 or any("at bounds" in p for p in ind.device_info["attempt_problems"])
    assert abs(vp.value("gamma_dot_t0") - LAMINAR[3]) < 3 * vp.uncertainty("gamma_dot_t0")
    diff = np.abs(vp.parameters - good.parameters)
    assert np.all(diff <= 1e-6 * np.abs(good.parameters) + 1e-4 * good.uncertainties)


def test_varpro_out_of_core_and_streaming_agree_with_standard(fits):
    data, results = fits
    ref = results["varpro", "good"]
    ooc = xpcsfit.fit(data, _cfg("varpro", strategy="out_of_core", chunk_points=2048))
    assert ooc.device_info["strategy"] == "out_of_core" and ooc.device_info["n_chunks"] > 1
    # Same objective and steps; only the summation order differs (rounding ~1e-13).
    np.testing.assert_allclose(ooc.parameters, ref.parameters, rtol=1e-8)
    np.testing.assert_allclose(ooc.covariance, ref.covariance, rtol=1e-6,
                               atol=1e-8 * np.max(np.abs(ref.covariance)))
    # hybrid_streaming: the host pass (the 435 pairs t1 < t2 of symmetric data, 250 per
    # 2000-point chunk: 2 chunks) wrapped by pure_callback, no warmup.
    st = xpcsfit.fit(data, _cfg("varpro", strategy="hybrid_streaming",
                                hybrid_streaming={"chunk_size": 2000}))
    assert st.device_info["n_chunks"] == 2 and st.device_info["per_angle_mode"] == "varpro"
    np.testing.assert_allclose(st.parameters, ref.parameters, rtol=1e-8)
    np.testing.assert_allclose(st.covariance, ref.covariance, rtol=1e-6,
                               atol=1e-8 * np.max(np.abs(ref.covariance)))


def test_varpro_reports_linear_values_outside_bounds():
    data = _data(offset=1.6)  # offsets beyond the default upper bound 1.5
    with pytest.warns(UserWarning, match="outside its bounds"):
        vp = xpcsfit.fit(data, _cfg("varpro"))
    outside = vp.device_info["varpro"]["outside_bounds"]
    assert set(outside) == {f"offset[{a}]" for a in range(8)}
    np.testing.assert_allclose(list(outside.values()), 1.6, atol=5e-3)  # unclipped
    assert 0.9 < vp.reduced_chi_squared < 1.1


def test_varpro_bad_input():
    data = _data()
    with pytest.raises(ValueError, match="per_angle_mode"):
        xpcsfit.fit(data, {"optimization": {"nlsq": {"anti_degeneracy": {
            "per_angle_mode": "var_pro"}}}})
