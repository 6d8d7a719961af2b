"""The one pipeline: fixed parameters, x_scale, geometry given twice, recovery keeps the best."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import xpcsfit
from fit_cases import LAMINAR_TRUTH, make_case, start_config
from xpcsfit import FitConfig
from xpcsfit.fitting.residuals import masked_residual

TIGHT = {"optimization.nlsq.ftol": 1e-14, "optimization.nlsq.xtol": 1e-14,
         "optimization.nlsq.gtol": 1e-14}


@pytest.fixture(scope="module")
def laminar4():
    return make_case("laminar_flow", n_phi=4, n_t=40, noise=0.01, seed=21)


def test_fixed_phi0_equals_a_fit_of_the_reduced_model(laminar4):
    data, _ = laminar4
    phi0 = float(LAMINAR_TRUTH[6])
    cfg = start_config("laminar_flow", **TIGHT, **{
        "optimization.nlsq.anti_degeneracy": {"per_angle_mode": "individual"}})
    result = xpcsfit.fit(data, cfg, fixed={"phi0": phi0})
    n = data.n_phi
    # Reference: scipy on the reduced vector (phi0 removed), residuals from g2_model.
    free = np.r_[0 : 2 * n + 6]

    def full(z):
        return jnp.concatenate([z, jnp.asarray([phi0])])

    fun = jax.jit(lambda z: masked_residual(full(z), data))
    jac = jax.jit(jax.jacfwd(lambda z: masked_residual(full(z), data)))
    space = xpcsfit.ParameterSpace.create("laminar_flow", n)
    ref = scipy.optimize.least_squares(
        lambda z: np.asarray(fun(jnp.asarray(z))), result.initial_parameters[free],
        jac=lambda z: np.asarray(jac(jnp.asarray(z))),
        bounds=(space.full_lower()[free], space.full_upper()[free]), method="trf",
        x_scale="jac", ftol=1e-14, xtol=1e-14, gtol=1e-14)
    # Both minimise the same 14-parameter objective to tolerances 1e-14 from one start: the
    # minimiser of this well-conditioned case is resolved far below 1e-8.
    np.testing.assert_allclose(result.parameters[free], ref.x, rtol=1e-8)
    assert result.value("phi0") == phi0 and result.uncertainty("phi0") == 0.0
    assert result.device_info["fixed_parameters"] == {"phi0": phi0}
    assert result.n_free == 2 * n + 6  # the fixed parameter is not a degree of freedom
    np.testing.assert_allclose(result.chi_squared, 2 * ref.cost, rtol=1e-10)
    traced = jax.jit(lambda d: xpcsfit.fit(d, cfg, fixed={"phi0": phi0}))(data)
    np.testing.assert_allclose(traced.parameters, result.parameters, rtol=1e-10)
    # The config form does the same.
    cfg["parameter_space"] = {"fixed": {"phi_0": phi0}}
    np.testing.assert_allclose(xpcsfit.fit(data, cfg).parameters, result.parameters, rtol=1e-12)


@pytest.mark.parametrize(("fixed", "field"), [({"phi0": 50.0}, "fixed"),
                                              ({"contrast": 0.3}, "fixed"),
                                              ({"phi0": float("nan")}, "fixed")])
def test_bad_fixed_values(laminar4, fixed, field):
    with pytest.raises(ValueError, match=field):
        xpcsfit.fit(laminar4[0], start_config("laminar_flow"), fixed=fixed)


def test_x_scale_reaches_the_solver(laminar4):
    data, _ = laminar4
    base = start_config("laminar_flow", **TIGHT)
    jac = xpcsfit.fit(data, base)
    scaled = dict(base)
    scaled["optimization"] = {"nlsq": {**base["optimization"]["nlsq"],
                                       "x_scale": {"D0": 1e3, "D_offset": 10.0,
                                                   "gamma_dot_t0": 1e-4, "phi0": 1.0}}}
    other = xpcsfit.fit(data, scaled)
    # A different scaling takes a different path (other iterates, other evaluation count)…
    assert other.nfev != jac.nfev or not np.array_equal(other.parameters, jac.parameters)
    # …to the same minimum (both at tolerances 1e-14).
    np.testing.assert_allclose(other.chi_squared, jac.chi_squared, rtol=1e-9)
    with pytest.raises(ValueError, match="x_scale"):
        xpcsfit.fit(data, FitConfig.create(x_scale=[1.0, 2.0]))


def test_geometry_given_twice_must_agree(laminar4):
    data, _ = laminar4
    with pytest.raises(ValueError, match=r"stator_rotor_gap: the config gives 1000000.0 but "
                                         r"the data have 2000000.0"):
        xpcsfit.fit(data, FitConfig.create(L=1e6))
    with pytest.raises(ValueError, match=r"analyzer_parameters\.dt: .*0\.3.*0\.2"):
        xpcsfit.fit(data, FitConfig.create(dt=0.3))
    with pytest.raises(ValueError, match="wavevector_q"):
        xpcsfit.fit(data, FitConfig.create(q=0.01))
    # A q within the loaders' 10 % selection tolerance is a q-bin selector, not a conflict.
    assert xpcsfit.fit(data, FitConfig.create(q=0.0052, L=2e6)).device_info["geometry"][
        "L"] == 2e6


def test_homodyne_dict_takes_geometry_from_a_fitconfig(laminar4):
    data, _ = laminar4
    d = {"phi_angles_list": np.asarray(data.phi), "c2_exp": np.asarray(data.g2),
         "t1": np.asarray(data.t), "t2": np.asarray(data.t), "wavevector_q_list": [0.005],
         "sigma": np.asarray(data.sigma)}
    res = xpcsfit.fit_nlsq_jax(d, FitConfig.create(L=2.5e6))
    assert res.device_info["geometry"]["L"] == 2.5e6
    with pytest.raises(ValueError, match="stator_rotor_gap"):
        xpcsfit.fit_nlsq_jax({**d, "L": 2e6}, FitConfig.create(L=2.5e6))


def test_recovery_keeps_the_lowest_cost_attempt():
    """A first attempt at a bound but with the lowest χ² must not lose to a worse clean one."""
    data, _ = make_case("laminar_flow", n_phi=3, n_t=40, noise=0.01, seed=1)
    cfg = start_config("laminar_flow", factor=1.0)
    cfg["initial_parameters"]["values"][:3] = [1e5, 2.0, 1e5]
    result = xpcsfit.fit(data, cfg)
    actions = result.device_info["recovery_actions"]
    assert len(actions) >= 2
    costs = [a["cost"] for a in actions]
    assert result.chi_squared == pytest.approx(2 * min(costs), rel=1e-12)
