"""The one pipeline: fixed parameters, x_scale, geometry given twice, recovery keeps the best."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xpcsfit
from fit_cases import make_case, reduced_reference, start_config
from xpcsfit import FitConfig

TIGHT = {"optimization.nlsq.ftol": 1e-14, "optimization.nlsq.xtol": 1e-14,
         "optimization.nlsq.gtol": 1e-14}


@pytest.fixture(scope="module")
def laminar4():
    return make_case("laminar_flow", n_phi=4, n_t=40, noise=0.01, seed=21)


@pytest.mark.parametrize("fixed", [{"phi0": 3.0}, {"phi0": 3.0, "D_offset": 20.0}])
def test_fixed_parameters_equal_a_fit_of_the_reduced_model(laminar4, fixed):
    data, _ = laminar4
    cfg = start_config("laminar_flow", **TIGHT, **{
        "optimization.nlsq.anti_degeneracy": {"per_angle_mode": "individual"}})
    result = xpcsfit.fit(data, cfg, fixed=fixed)
    free, ref = reduced_reference(data, result, fixed)
    np.testing.assert_allclose(result.chi_squared, 2 * ref.cost, rtol=1e-12)
    # A solve stopped by ftol (Δcost < 1e-14·cost, cost ≈ 1600) resolves x to
    # ~sqrt(2·1e-14·cost) ≈ 6e-6 standard errors (measured: 4e-7 with D_offset held, 1e-6
    # in the flat D0·t^α + D_offset valley without), so compare in standard errors.
    err = np.abs(result.parameters[free] - ref.x) / result.uncertainties[free]
    assert np.max(err) < 1e-5, err
    for name, value in fixed.items():
        assert result.value(name) == value and result.uncertainty(name) == 0.0
    assert result.device_info["fixed_parameters"] == fixed
    assert result.n_free == len(free)  # fixed parameters are not degrees of freedom
    # Traced: both triangles (symmetry is a traced value), the same minimiser; each solve
    # stops by ftol, so again in standard errors.
    traced = jax.jit(lambda d: xpcsfit.fit(d, cfg, fixed=fixed))(data)
    err = np.abs(np.asarray(traced.parameters) - result.parameters)[free] / \
        result.uncertainties[free]
    assert np.max(err) < 1e-5, err
    cfg["parameter_space"] = {"fixed": fixed}  # the config form does the same
    np.testing.assert_allclose(xpcsfit.fit(data, cfg).parameters, result.parameters,
                               rtol=1e-12, atol=1e-14)


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


def _fake_attempt(costs, at_bound):
    """An attempt whose result (cost, active mask) depends on which start it gets."""
    from xpcsfit.fitting.defense import SearchSpec
    from xpcsfit.solvers.trust_region import SolverResult

    def attempt(z):
        i = jnp.asarray(z[0], jnp.int32)
        res = SolverResult(x=z, cost=jnp.asarray(costs)[i], grad=z * 0, jtj=jnp.eye(2),
                           nfev=jnp.asarray(3), njev=jnp.asarray(3), status=jnp.asarray(2),
                           success=jnp.asarray(True),
                           active_mask=jnp.stack([0 * i, jnp.asarray(at_bound)[i]]),
                           observed=None)
        return res, SearchSpec(), {}, jnp.asarray(10.0)

    return attempt


@pytest.mark.parametrize("traced", [True, False])
def test_recovery_keeps_the_lowest_cost_attempt(traced):
    """Attempt 0 has the lowest cost but a physical parameter at a bound; attempt 1 is clean
    but worse. Recovery stops at the clean one and returns attempt 0 with its problem."""
    import functools

    from xpcsfit.fitting import solve as solving
    from xpcsfit.fitting.pipeline import _attempts, _recovery_rule

    starts = jnp.asarray([[0.0, 0.5], [1.0, 0.5], [2.0, 0.5]])
    attempt = _fake_attempt([1.0, 2.0, 0.5], [1, 0, 0])
    loop = functools.partial(solving.while_loop, traced=traced)

    def run(st):
        return _attempts(attempt, st, 1, loop, traced, _recovery_rule(1))

    best, _, _, log = jax.jit(run)(starts) if traced else run(starts)
    assert np.asarray(log.ran).tolist() == [True, True, False]  # stopped at the clean one
    assert int(log.best) == 0 and float(best.cost) == 1.0
    assert np.asarray(log.problems)[0, 3] and not np.asarray(log.problems)[1].any()


@pytest.fixture(scope="module")
def static3():
    return make_case("static_isotropic", n_phi=3, n_t=24, noise=0.01, seed=5)


@pytest.fixture(scope="module")
def static3_held(static3):
    """The standard-strategy fit with D_offset held, the reference of the strategies."""
    return xpcsfit.fit(static3[0], start_config("static_isotropic", **TIGHT),
                       fixed={"D_offset": 25.0})


@pytest.mark.parametrize(("strategy", "per_angle"), [
    ("out_of_core", "individual"), ("hybrid_streaming", "individual"),
    ("standard", "varpro"), ("standard", "averaged")])
def test_fixed_parameters_hold_in_every_strategy_and_per_angle_mode(static3, static3_held,
                                                                    strategy, per_angle):
    """Each strategy reaches the standard strategy's answer with D_offset held; each
    per-angle mode holds it too (SE 0, not a degree of freedom). (fourier is a
    laminar-flow form; its fixed parameters run through the same map, test_fit.)"""
    data, _ = static3
    cfg = start_config("static_isotropic", **TIGHT)
    cfg["optimization"]["nlsq"].update(strategy=strategy,
                                       anti_degeneracy={"per_angle_mode": per_angle})
    res = xpcsfit.fit(data, cfg, fixed={"D_offset": 25.0})
    assert res.value("D_offset") == 25.0 and res.uncertainty("D_offset") == 0.0
    per_angle_free = {"individual": 2 * data.n_phi, "varpro": 2 * data.n_phi, "averaged": 2}
    assert res.n_free == per_angle_free[per_angle] + 2  # D0 and alpha
    if per_angle == "individual":
        np.testing.assert_allclose(res.parameters, static3_held.parameters, rtol=1e-8,
                                   atol=1e-12)


def test_fixed_parameters_under_vmap_and_in_multistart(static3):
    data, _ = static3
    fixed = {"D_offset": 25.0}
    cfg = start_config("static_isotropic", **TIGHT)
    other = make_case("static_isotropic", n_phi=3, n_t=24, noise=0.01, seed=6)[0]
    batch = jax.tree.map(lambda *xs: jnp.stack(xs), data, other)
    batched = jax.jit(jax.vmap(lambda d: xpcsfit.fit(d, cfg, fixed=fixed)))(batch)
    for i, d in enumerate((data, other)):
        one = xpcsfit.fit(d, cfg, fixed=fixed)
        np.testing.assert_allclose(batched.parameters[i], one.parameters, rtol=1e-8,
                                   atol=1e-12)
        if i == 0:
            multi = xpcsfit.fit_nlsq_multistart(data, cfg, n_starts=3, fixed=fixed)
            assert multi.value("D_offset") == 25.0 and multi.uncertainty("D_offset") == 0.0
            assert multi.chi_squared <= one.chi_squared * (1 + 1e-9)
