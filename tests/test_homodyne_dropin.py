"""homodyne's ways of holding parameters and calling the fit: initial_parameters.
{fixed_parameters, active_parameters, per_angle_scaling}, contrast_i names, and
`fit_nlsq_jax` called as homodyne's code calls it (ConfigManager, keyword arguments)."""

import copy

import numpy as np
import pytest

import xpcsfit
from fit_cases import make_case, reduced_reference, start_config

TIGHT = {"optimization.nlsq.ftol": 1e-14, "optimization.nlsq.xtol": 1e-14,
         "optimization.nlsq.gtol": 1e-14}


@pytest.fixture(scope="module")
def laminar4():
    return make_case("laminar_flow", n_phi=4, n_t=30, noise=0.01, seed=21)


def _with_initial(cfg, **entries):
    out = copy.deepcopy(cfg)
    out.setdefault("initial_parameters", {}).update(entries)
    return out


def test_homodyne_fixed_and_active_parameters_hold_what_they_name(laminar4):
    data, _ = laminar4
    cfg = start_config("laminar_flow")
    plain = xpcsfit.fit(data, cfg, fixed={"phi0": 3.0})
    by_key = xpcsfit.fit(data, _with_initial(cfg, fixed_parameters={"phi_0": 3.0}))
    np.testing.assert_array_equal(by_key.parameters, plain.parameters)
    assert by_key.device_info["fixed_parameters"] == {"phi0": 3.0}
    # active_parameters without phi0: phi0 is held at its configured start value (4.5).
    names = cfg["initial_parameters"]["parameter_names"]
    active = xpcsfit.fit(data, _with_initial(cfg, active_parameters=names[:-1]))
    start_phi0 = cfg["initial_parameters"]["values"][names.index("phi0")]
    held = xpcsfit.fit(data, cfg, fixed={"phi0": start_phi0})
    np.testing.assert_array_equal(active.parameters, held.parameters)
    assert active.value("phi0") == start_phi0 and active.uncertainty("phi0") == 0.0
    assert active.n_free == plain.n_free


def test_contrast_and_offset_held_equal_the_reduced_model(laminar4):
    """fixed {contrast, offset} (homodyne's documented example) holds them for every angle:
    the physical parameters then equal scipy on the reduced (physical-only) problem."""
    data, _ = laminar4
    cfg = _with_initial(start_config("laminar_flow", **TIGHT),
                        fixed_parameters={"contrast": 0.3, "offset": 1.0})
    result = xpcsfit.fit(data, cfg)
    n = data.n_phi
    held = {name: (0.3 if name.startswith("contrast") else 1.0)
            for name in result.parameter_names[:2 * n]}
    free, ref = reduced_reference(data, result, held)
    np.testing.assert_allclose(result.chi_squared, 2 * ref.cost, rtol=1e-10)
    assert result.device_info["per_angle_mode"] == "constant"
    np.testing.assert_array_equal(result.parameters[:2 * n], [0.3] * n + [1.0] * n)
    assert np.all(result.uncertainties[:2 * n] == 0.0)
    assert result.n_free == len(free) == 7
    assert result.device_info["fixed_parameters"] == held


def test_per_angle_start_values_follow_the_file_angle_order():
    data, _ = make_case("laminar_flow", n_phi=3, n_t=24, noise=0.01, seed=3)
    order = [2, 0, 1]  # the file lists the angles in this order of ascending φ
    shuffled = xpcsfit.XPCSData.from_arrays(np.asarray(data.g2)[order], np.asarray(data.t),
                                            np.asarray(data.phi)[order], q=data.q, L=data.L,
                                            sigma=np.asarray(data.sigma)[order])
    file_contrast = [0.21, 0.32, 0.43]
    base = start_config("laminar_flow", **{
        "optimization.nlsq.max_nfev": 1, "optimization.nlsq.screening": {"enable": False},
        "optimization.nlsq.recovery": False})
    cfg = _with_initial(base, per_angle_scaling={"contrast": file_contrast, "offset": [1.1]})
    res = xpcsfit.fit(shuffled, cfg)
    expected = [file_contrast[i] for i in shuffled.phi_order]
    np.testing.assert_allclose(res.initial_parameters[:3], expected, rtol=0, atol=0)
    np.testing.assert_allclose(res.initial_parameters[3:6], 1.1, rtol=0, atol=0)
    # homodyne's contrast_i names index the file's order too.
    named = xpcsfit.fit(shuffled, base, {"contrast_0": 0.21, "offset_2": 0.9})
    sorted_index = shuffled.phi_order.index(0)
    assert named.initial_parameters[sorted_index] == 0.21
    assert named.initial_parameters[3 + shuffled.phi_order.index(2)] == 0.9


class _ConfigManager:
    """What homodyne passes: an object whose `.config` is the config dict."""

    def __init__(self, config):
        self.config = config


def _homodyne_data(data):
    return {"phi_angles_list": np.asarray(data.phi), "c2_exp": np.asarray(data.g2),
            "t1": np.asarray(data.t), "t2": np.asarray(data.t),
            "wavevector_q_list": np.array([data.q]), "sigma": np.asarray(data.sigma)}


def test_fit_nlsq_jax_takes_homodyne_calls_and_returns_its_result_fields(laminar4):
    data, _ = laminar4
    cfg = start_config("laminar_flow")
    cfg.setdefault("optimization", {}).setdefault("nlsq", {})["multi_start"] = {
        "enable": True, "n_starts": 2}
    manager = _ConfigManager(copy.deepcopy(cfg))
    start = dict(zip(cfg["initial_parameters"]["parameter_names"],
                     cfg["initial_parameters"]["values"], strict=True))
    # homodyne's multistart worker: a ConfigManager, initial_params, per_angle_scaling and
    # _skip_global_selection=True (no recursion into multistart).
    res = xpcsfit.fit_nlsq_jax(_homodyne_data(data), manager, initial_params=start,
                               per_angle_scaling=True, _skip_global_selection=True)
    plain = xpcsfit.fit(data, {**cfg, "optimization": {"nlsq": {
        **cfg["optimization"]["nlsq"], "multi_start": {"enable": False}}}}, start)
    np.testing.assert_allclose(res.parameters, plain.parameters, rtol=1e-12, atol=1e-15)
    assert manager.config == cfg  # nothing the caller passed is modified
    assert res.device_info["multistart"] is None
    assert res.nlsq_diagnostics["skip_global_selection"] is True
    # homodyne's direct data form (phi, g2, q) gives the same fit.
    direct = {"phi": np.asarray(data.phi), "g2": np.asarray(data.g2), "t1": np.asarray(data.t),
              "t2": np.asarray(data.t), "q": data.q, "sigma": np.asarray(data.sigma)}
    again = xpcsfit.fit_nlsq_jax(direct, manager, initial_params=start,
                                 _skip_global_selection=True)
    np.testing.assert_array_equal(again.parameters, res.parameters)
    # The fields homodyne's result saving reads (cli/result_saving.py of homodyne 2.23).
    for field in ("parameters", "uncertainties", "covariance", "chi_squared",
                  "reduced_chi_squared", "convergence_status", "iterations", "execution_time",
                  "device_info", "recovery_actions", "quality_flag", "sigma_is_default",
                  "nlsq_diagnostics", "streaming_diagnostics", "stratification_diagnostics",
                  "analysis_mode", "optimization_time", "success", "message"):
        assert hasattr(res, field), field
    assert res.analysis_mode == "laminar_flow" and res.streaming_diagnostics is None
    assert res.parameters.shape == (2 * data.n_phi + 7,)
    res.nlsq_diagnostics["scalar_per_angle_expansion"] = True  # homodyne's saver does this


@pytest.mark.parametrize(("change", "match"), [
    ({"fixed_parameters": {"contrast": 0.3}}, "contrast alone"),
    ({"fixed_parameters": {"phi0": 50.0}}, "phi0 = 50.0"),
    ({"active_parameters": ["D0", "nope"]}, "active_parameters: 'nope'"),
    ({"active_parameters": "D0"}, "active_parameters: expected a list"),
    ({"per_angle_scaling": {"contrast": [0.3, 0.4]}}, r"contrast: 2 values for 4 angles"),
    ({"per_angle_scaling": {"offset": [1.0, float("nan"), 1.0, 1.0]}}, r"offset\[1\]"),
])
def test_bad_homodyne_parameter_keys_name_the_key(laminar4, change, match):
    cfg = _with_initial(start_config("laminar_flow"), **change)
    with pytest.raises(ValueError, match=match):
        xpcsfit.fit(laminar4[0], cfg)


def test_bad_drop_in_calls_are_refused_before_fitting(laminar4):
    data, _ = laminar4
    d = _homodyne_data(data)
    cfg = start_config("laminar_flow")
    with pytest.raises(ValueError, match="per_angle_scaling: False"):
        xpcsfit.fit_nlsq_jax(d, cfg, per_angle_scaling=False)
    with pytest.raises(ValueError, match="config: expected a ConfigManager"):
        xpcsfit.fit_nlsq_jax(d, _ConfigManager(42))
    with pytest.raises(ValueError, match="initial_params: expected a dict"):
        xpcsfit.fit_nlsq_jax(d, cfg, initial_params=[1.0])
    with pytest.raises(ValueError, match="contrast_9"):
        xpcsfit.fit_nlsq_jax(d, cfg, initial_params={"contrast_9": 0.3})
    both = _with_initial(cfg, fixed_parameters={"phi0": 1.0})
    both["parameter_space"] = {"fixed": {"phi0": 2.0}}
    with pytest.raises(ValueError, match="parameter_space.fixed gives 2.0"):
        xpcsfit.fit(data, both)
    held = _with_initial(cfg, fixed_parameters={"contrast": 0.3, "offset": 1.0})
    held["optimization"] = {"nlsq": {"anti_degeneracy": {"per_angle_mode": "individual"}}}
    with pytest.raises(ValueError, match="per_angle_mode constant"):
        xpcsfit.fit(data, held)
