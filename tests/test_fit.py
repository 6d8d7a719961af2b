"""End-to-end fits on simulated data: recovery of the truth, conventions, scipy agreement."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import xpcsfit
from fit_cases import PHYSICAL_NAMES, make_case, start_config
from xpcsfit.fitting.api import _compiled
from xpcsfit.fitting.residuals import fitted_residual, masked_residual, plain_residual


def _check_recovery(result, truth, n_sigma=3.0):
    names = PHYSICAL_NAMES[: truth.shape[0]]
    for name, true in zip(names, truth, strict=True):
        value, err = result.value(name), result.uncertainty(name)
        assert err > 0, name
        assert abs(value - true) <= n_sigma * err, (name, value, true, err)


@pytest.mark.parametrize(
    ("mode", "n_phi", "n_t", "noise"),
    [("static_isotropic", 3, 60, 0.01), ("laminar_flow", 3, 60, 0.02),
     ("laminar_flow", 23, 40, 0.01)],
)
def test_recovers_truth(mode, n_phi, n_t, noise):
    data, truth = make_case(mode, n_phi=n_phi, n_t=n_t, noise=noise, seed=n_phi)
    result = xpcsfit.fit(data, start_config(mode))
    assert result.convergence_status == "converged", result.message
    # χ²_red of a correct model with the true σ: mean 1, sd sqrt(2/dof) ≈ 0.01 here.
    assert 0.9 < result.reduced_chi_squared < 1.1
    assert result.quality_flag == "good"
    _check_recovery(result, truth["physical"])
    n = data.n_phi
    assert result.parameters.shape == (2 * n + truth["physical"].shape[0],)
    assert result.covariance.shape == (result.parameters.shape[0],) * 2
    assert result.n_points == n * n_t * (n_t - 1) // 2  # symmetric data: t1 < t2 only
    np.testing.assert_allclose(result.chi_squared / (result.n_points - result.n_free),
                               result.reduced_chi_squared, rtol=1e-12)


def test_homodyne_convention():
    data, truth = make_case("laminar_flow", n_phi=3, n_t=60, noise=0.01, seed=5,
                            convention="homodyne")
    result = xpcsfit.fit(data, start_config("laminar_flow", **{"physics.convention": "homodyne"}))
    assert result.device_info["model_convention"] == "homodyne"
    assert 0.9 < result.reduced_chi_squared < 1.1
    _check_recovery(result, truth["physical"])


def test_agrees_with_scipy_on_same_residual():
    data, _ = make_case("laminar_flow", n_phi=3, n_t=40, noise=0.01, seed=11)
    cfg = start_config("laminar_flow", **{"optimization.nlsq.tolerance": 1e-12})
    result = xpcsfit.fit(data, cfg)
    residual = jax.jit(lambda x: fitted_residual(x, data))  # t1 < t2: symmetric data
    jac = jax.jit(jax.jacfwd(lambda x: fitted_residual(x, data)))
    space = xpcsfit.ParameterSpace.create("laminar_flow", data.n_phi)
    ref = scipy.optimize.least_squares(
        lambda x: np.asarray(residual(jnp.asarray(x))),
        result.initial_parameters,
        jac=lambda x: np.asarray(jac(jnp.asarray(x))),
        bounds=(space.full_lower(), space.full_upper()),
        method="trf", x_scale="jac", ftol=1e-12, xtol=1e-12, gtol=1e-12,
    )
    # Both converge to the same minimum of a well-conditioned problem; differences are
    # set by the stopping tolerances (1e-12), far below 1e-6.
    np.testing.assert_allclose(result.parameters, ref.x, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(result.chi_squared, 2 * ref.cost, rtol=1e-9)


@pytest.mark.parametrize("per_angle_mode", ["individual", "fourier", "constant", "averaged"])
def test_per_angle_modes_report_full_layout(per_angle_mode):
    data, truth = make_case("laminar_flow", n_phi=8, n_t=30, noise=0.01, seed=2)
    cfg = start_config("laminar_flow", **{
        "optimization.nlsq.anti_degeneracy": {"per_angle_mode": per_angle_mode}})
    result = xpcsfit.fit(data, cfg)
    n = data.n_phi
    assert result.device_info["per_angle_mode"] == per_angle_mode
    assert result.parameters.shape == (2 * n + 7,)
    assert result.covariance.shape == (2 * n + 7, 2 * n + 7)
    assert np.all(np.isfinite(result.parameters))
    if per_angle_mode == "averaged":
        assert np.ptp(result.parameters[:n]) == 0 and np.ptp(result.parameters[n : 2 * n]) == 0
    if per_angle_mode == "constant":
        np.testing.assert_array_equal(result.parameters[: 2 * n],
                                      result.initial_parameters[: 2 * n])
        assert np.all(result.uncertainties[: 2 * n] == 0)


def test_fit_nlsq_jax_homodyne_dicts():
    data, truth = make_case("laminar_flow", n_phi=3, n_t=40, noise=0.01, seed=4)
    t = np.asarray(data.t)
    t1, t2 = np.meshgrid(t, t, indexing="ij")
    data_dict = {"phi_angles_list": np.asarray(data.phi)[::-1].copy(),
                 "c2_exp": np.asarray(data.g2)[::-1].copy(), "t1": t1, "t2": t2,
                 "wavevector_q_list": np.array([0.005, 0.006]), "sigma": np.asarray(data.sigma)}
    cfg = start_config("laminar_flow")
    cfg["analyzer_parameters"] = {"dt": 0.2, "geometry": {"stator_rotor_gap": 2e6}}
    result = xpcsfit.fit_nlsq_jax(data_dict, cfg)
    direct = xpcsfit.fit(data, start_config("laminar_flow"))
    np.testing.assert_allclose(result.parameters, direct.parameters, rtol=1e-8)
    json.dumps(result.to_dict())


def test_second_fit_same_shapes_does_not_recompile():
    data1, _ = make_case("laminar_flow", n_phi=3, n_t=30, seed=7)
    data2, _ = make_case("laminar_flow", n_phi=3, n_t=30, seed=8)
    cfg = start_config("laminar_flow")
    xpcsfit.fit(data1, cfg)
    size = _compiled._cached._cache_size()
    result = xpcsfit.fit(data2, cfg)
    assert _compiled._cached._cache_size() == size
    assert result.convergence_status == "converged"


def test_recovery_is_recorded_when_the_first_attempt_stops_early():
    data, _ = make_case("static_isotropic", n_phi=2, n_t=30, seed=1)
    cfg = start_config("static_isotropic", **{"optimization.nlsq.max_iterations": 2,
                                              "optimization.nlsq.screening.enable": False})
    result = xpcsfit.fit(data, cfg)
    actions = result.device_info["recovery_actions"]
    assert [a["attempt"] for a in actions] == ["configured", "bounds_centre", "geometric_mean"]
    assert all("stopped before convergence" in a["problems"] for a in actions)
    assert result.recovery_actions == actions
    # One path: the homodyne keys say so (no fast path to fall back from).
    assert result.device_info["fallback_occurred"] is False
    assert result.device_info["adapter"] == "xpcsfit"
    assert result.convergence_status != "converged"
    assert result.quality_flag != "good"


def test_out_of_bounds_start_is_clipped_with_warning():
    data, _ = make_case("static_isotropic", n_phi=2, n_t=30, seed=1)
    cfg = start_config("static_isotropic")
    cfg["initial_parameters"]["values"][0] = 1e9  # D0 above its upper bound 1e5
    with pytest.warns(UserWarning, match="D0"):
        result = xpcsfit.fit(data, cfg)
    assert result.initial_parameters[2 * data.n_phi] == 1e5
    assert any("D0" in w for w in result.warnings)
    cfg["optimization"] = {"nlsq": {"on_initial_violation": "error"}}
    with pytest.raises(ValueError, match="D0"):
        xpcsfit.fit(data, cfg)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"data": "not data"}, "data"), ({"config": 3}, "config"), ({"init": [1.0, 2.0]}, "init"),
     ({"init": {"nonsense": 1.0}}, "nonsense"),
     ({"config": {"optimization": {"nlsq": {"strategy": "quantum"}}}}, "strategy")],
)
def test_bad_fit_arguments(kwargs, field):
    data, _ = make_case("static_isotropic", n_phi=2, n_t=20, seed=1)
    args = {"data": data, "config": start_config("static_isotropic"), "init": None}
    args.update(kwargs)
    with pytest.raises(ValueError, match=field):
        xpcsfit.fit(args["data"], args["config"], args["init"])


def test_masked_and_plain_residuals_agree_with_chi2():
    data, _ = make_case("laminar_flow", n_phi=3, n_t=30, seed=6)
    result = xpcsfit.fit(data, start_config("laminar_flow"))
    masked = np.asarray(masked_residual(jnp.asarray(result.parameters), data))
    plain = plain_residual(result.parameters, data)
    np.testing.assert_allclose(np.sort(masked[masked != 0]), np.sort(plain), rtol=1e-12)
    # Symmetric data are fitted over t1 < t2: χ² is half the sum over both triangles.
    assert plain.size == 2 * result.n_points
    np.testing.assert_allclose(plain @ plain, 2 * result.chi_squared, rtol=1e-10)
