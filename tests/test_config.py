"""FitConfig.from_dict reads the homodyne layout; bad values name their key."""

import warnings

import pytest

from xpcsfit.fitting.config import FitConfig

HOMODYNE = {
    "analysis_mode": "laminar_flow",
    "analyzer_parameters": {
        "dt": 0.1,
        "start_frame": 1,
        "end_frame": 200,
        "scattering": {"wavevector_q": 0.0054},
        "geometry": {"stator_rotor_gap": 2_000_000},
    },
    "initial_parameters": {
        "parameter_names": ["D0", "alpha", "D_offset", "gamma_dot_0", "beta",
                            "gamma_dot_offset", "phi_0"],
        "values": [1000.0, -1.2, 0.0, 0.01, 0.0, 0.0, 0.0],
    },
    "parameter_space": {"bounds": [{"name": "D0", "min": 1.0, "max": 1e6},
                                   {"name": "phi_0", "min": -30, "max": 30}]},
    "optimization": {
        "method": "nlsq",
        "nlsq": {"max_iterations": 150, "tolerance": 1e-9, "strategy": "out_of_core",
                 "anti_degeneracy": {"per_angle_mode": "fourier", "fourier_order": 1}},
    },
    "physics": {"convention": "homodyne"},
}


def test_reads_homodyne_layout():
    cfg = FitConfig.from_dict(HOMODYNE)
    assert cfg.analysis_mode == "laminar_flow" and cfg.convention == "homodyne"
    assert (cfg.dt, cfg.q, cfg.L, cfg.start_frame, cfg.end_frame) == (0.1, 0.0054, 2e6, 1, 200)
    assert dict(cfg.initial_values)["gamma_dot_0"] == 0.01
    assert cfg.bounds == (("D0", 1.0, 1e6), ("phi_0", -30.0, 30.0))
    assert cfg.max_nfev == 150 and cfg.ftol == cfg.xtol == cfg.gtol == 1e-9
    assert cfg.strategy == "out_of_core"
    assert cfg.per_angle_mode == "fourier" and cfg.fourier_order == 1
    assert cfg.section("anti_degeneracy")["per_angle_mode"] == "fourier"
    assert cfg.unknown_keys == ()
    hash(cfg)  # usable as a static jit argument


def test_values_null_means_defaults_and_static_alias():
    cfg = FitConfig.from_dict({"analysis_mode": "static",
                               "initial_parameters": {"parameter_names": ["D0"], "values": None}})
    assert cfg.analysis_mode == "static_isotropic" and cfg.initial_values == ()


def test_unknown_keys_reported():
    with pytest.warns(UserWarning, match="logging.level"):
        cfg = FitConfig.from_dict({"logging": {"level": "INFO"}, "mcmc": {"num_samples": 3}})
    assert cfg.unknown_keys == ("logging.level", "mcmc.num_samples")


def test_known_keys_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FitConfig.from_dict(HOMODYNE)


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"analysis_mode": "turbulent"}, "analysis_mode"),
        ({"physics": {"convention": "mine"}}, "physics.convention"),
        ({"analyzer_parameters": {"dt": -0.1}}, "analyzer_parameters.dt"),
        ({"analyzer_parameters": {"dt": "fast"}}, "analyzer_parameters.dt"),
        ({"analyzer_parameters": {"scattering": {"wavevector_q": 0}}},
         "analyzer_parameters.scattering.wavevector_q"),
        ({"analyzer_parameters": {"geometry": {"stator_rotor_gap": -5}}},
         "analyzer_parameters.geometry.stator_rotor_gap"),
        ({"analyzer_parameters": {"start_frame": 1.5}}, "analyzer_parameters.start_frame"),
        ({"optimization": {"nlsq": {"max_iterations": 0}}}, "optimization.nlsq.max_iterations"),
        ({"optimization": {"nlsq": {"tolerance": -1}}}, "optimization.nlsq.ftol"),
        ({"optimization": {"nlsq": {"strategy": "gpu"}}}, "optimization.nlsq.strategy"),
        ({"optimization": {"nlsq": {"memory_fraction": 2}}}, "optimization.nlsq.memory_fraction"),
        ({"optimization": {"nlsq": {"recovery": "yes"}}}, "optimization.nlsq.recovery"),
        ({"optimization": {"nlsq": {"anti_degeneracy": {"per_angle_mode": "x"}}}},
         "per_angle_mode"),
        ({"optimization": {"nlsq": {"anti_degeneracy": 3}}}, "anti_degeneracy"),
        ({"parameter_space": {"bounds": [{"name": "D0", "min": 5, "max": 1}]}},
         r"parameter_space.bounds\[D0\]"),
        ({"parameter_space": {"bounds": [{"name": "D0", "min": "a", "max": 1}]}},
         r"parameter_space.bounds\[D0\]"),
        ({"initial_parameters": {"parameter_names": ["D0"], "values": [1, 2]}},
         "initial_parameters.values"),
        ({"initial_parameters": {"parameter_names": ["D0"], "values": ["x"]}},
         "initial_parameters.values"),
        ({"initial_parameters": {"values": [1.0]}}, "initial_parameters.parameter_names"),
    ],
)
def test_bad_values_name_the_key(cfg, key):
    with pytest.raises(ValueError, match=key):
        FitConfig.from_dict(cfg)


def test_not_a_mapping():
    with pytest.raises(ValueError, match="config"):
        FitConfig.from_dict([1, 2])
