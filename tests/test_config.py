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
    g = cfg.geometry
    assert (g.dt, g.q, g.L, g.start_frame, g.end_frame) == (0.1, 0.0054, 2e6, 1, 200)
    assert dict(cfg.parameters.initial)["gamma_dot_0"] == 0.01
    assert cfg.parameters.bounds == (("D0", 1.0, 1e6), ("phi_0", -30.0, 30.0))
    s = cfg.solver
    assert s.max_nfev == 150 and s.ftol == s.xtol == s.gtol == 1e-9
    assert cfg.strategy.name == "out_of_core"
    assert cfg.per_angle.mode == "fourier" and cfg.per_angle.fourier_order == 1
    assert cfg.unknown_keys == () and cfg.unused_keys == ()
    hash(cfg)  # usable as a static jit argument


def test_values_null_means_defaults_and_static_alias():
    cfg = FitConfig.from_dict({"analysis_mode": "static",
                               "initial_parameters": {"parameter_names": ["D0"], "values": None}})
    assert cfg.analysis_mode == "static_isotropic" and cfg.parameters.initial == ()


def test_unknown_keys_reported_briefly_by_section():
    raw = {"logging": {"level": "INFO", "file": "x"}, "mcmc": {"num_samples": 3, "chains": 2},
           "optimization": {"nlsq": {"fast_path": True, "typo_key": 1}}}
    with pytest.warns(UserWarning, match=r"6 key\(s\).*logging \(2\).*mcmc \(2\).*"
                      r"optimization.nlsq \(2\)") as record:
        cfg = FitConfig.from_dict(raw)
    assert len(record) == 1 and len(str(record[0].message)) < 300
    assert cfg.unknown_keys == ("logging.file", "logging.level", "mcmc.chains",
                                "mcmc.num_samples", "optimization.nlsq.typo_key")
    assert cfg.unused_keys == ("optimization.nlsq.fast_path",)


def test_extra_bound_fields_are_reported_as_unused():
    with pytest.warns(UserWarning, match="parameter_space"):
        cfg = FitConfig.from_dict({"parameter_space": {"bounds": [
            {"name": "D0", "min": 1.0, "max": 10.0, "type": "TruncatedNormal"}]}})
    assert cfg.unused_keys == ("parameter_space.bounds[D0].type",)


def test_create_and_replace_go_through_the_key_table():
    cfg = FitConfig.create(per_angle_mode="varpro", ftol=1e-12, initial={"D0": 2e3},
                           bounds={"D0": (1.0, 1e4)}, fixed={"phi0": 0.0})
    assert cfg.per_angle.mode == "varpro" and cfg.solver.ftol == 1e-12
    assert cfg.parameters.initial == (("D0", 2e3),)
    assert cfg.parameters.bounds == (("D0", 1.0, 1e4),) and cfg.parameters.fixed == (("phi0", 0.0),)
    assert cfg.replace(ftol=1e-6).solver.ftol == 1e-6 and cfg.solver.ftol == 1e-12
    with pytest.raises(ValueError, match="optimization.nlsq.ftol"):
        cfg.replace(ftol=-1.0)
    with pytest.raises(ValueError, match="nonsense"):
        FitConfig.create(nonsense=1)
    assert FitConfig.create(x_scale={"D0": 10.0}).solver.x_scale == (("D0", 10.0),)


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
        ({"optimization": {"nlsq": {"tolerance": -1}}}, "optimization.nlsq.tolerance"),
        ({"optimization": {"nlsq": {"x_scale": "big"}}}, "optimization.nlsq.x_scale"),
        ({"optimization": {"nlsq": {"x_scale": [1.0, -2.0]}}}, r"x_scale\[1\]"),
        ({"optimization": {"method": "mcmc"}}, "optimization.method"),
        ({"parameter_space": {"fixed": {"phi0": "zero"}}}, "parameter_space.fixed.phi0"),
        ({"optimization": {"nlsq": {"multi_start": {"n_starts": "ten"}}}},
         "optimization.nlsq.multi_start.n_starts"),
        ({"optimization": {"nlsq": {"hybrid_streaming": {"chunk_size": 0}}}},
         "optimization.nlsq.hybrid_streaming.chunk_size"),
        ({"optimization": {"nlsq": {"anti_degeneracy": {"gradient_monitoring": {
            "response": "panic"}}}}}, "gradient_monitoring.response"),
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
