"""YAML config: every DESIGN §7 key and the data keys, templates, unknown keys, bad values."""

import copy
import subprocess
import sys

import numpy as np
import pytest

yaml = pytest.importorskip("yaml")

from xpcsfit.io import _optional  # noqa: E402
from xpcsfit.io.template import config_template  # noqa: E402
from xpcsfit.io.yaml_config import config_from_dict, load_config  # noqa: E402
from xpcsfit.physics.parameters import DEFAULTS, PHYSICAL_NAMES  # noqa: E402

FULL = {
    "analysis_mode": "laminar_flow",
    "physics": {"convention": "homodyne"},
    "analyzer_parameters": {"dt": 0.05, "start_frame": 3, "end_frame": 90,
                            "scattering": {"wavevector_q": 0.0061},
                            "geometry": {"stator_rotor_gap": 1.8e6}},
    "initial_parameters": {"parameter_names": ["D0", "alpha", "D_offset", "gamma_dot_0", "beta",
                                               "gamma_dot_offset", "phi_0"],
                           "values": [2e3, 0.4, 5.0, 1e-3, 0.3, 0.0, 1.0]},
    "parameter_space": {"bounds": [{"name": "D0", "min": 10.0, "max": 1e4},
                                   {"name": "phi_0", "min": -20.0, "max": 20.0}]},
    "optimization": {"nlsq": {"max_iterations": 77, "ftol": 1e-9, "xtol": 1e-7, "gtol": 1e-6,
                              "strategy": "out_of_core", "memory_fraction": 0.5,
                              "anti_degeneracy": {"per_angle_mode": "fourier",
                                                  "fourier_order": 3},
                              "multi_start": {"n_starts": 4, "seed": 7},
                              "hybrid_streaming": {"chunk_size": 1000}},
                     "stratification": {"enabled": True}},
    "experimental_data": {"data_folder_path": "raw", "data_file_name": "run1.hdf",
                          "cache_file_path": "cache", "cache_compression": False,
                          "cache_filename_template": "{stem}_{start_frame}.npz"},
    "phi_filtering": {"enabled": True, "fallback_to_all_angles": True,
                      "target_ranges": [{"min_angle": 170.0, "max_angle": 190.0}]},
}


def _write(tmp_path, cfg, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_every_key_reaches_fit_and_data_settings(tmp_path):
    with pytest.warns(UserWarning, match=r"not used by xpcsfit \(ignored\): optimization\.stratification\.enabled"):
        loaded = load_config(_write(tmp_path, FULL))
    fit, data = loaded.fit, loaded.data
    # homodyne's stratification switch is known but does nothing here: reported as unused.
    assert loaded.unknown_keys == ("optimization.stratification.enabled",)
    g, s = fit.geometry, fit.solver
    assert (fit.analysis_mode, fit.convention, g.dt, g.q, g.L) == (
        "laminar_flow", "homodyne", 0.05, 0.0061, 1.8e6)
    assert (s.max_nfev, s.ftol, s.xtol, s.gtol, fit.strategy.name,
            fit.strategy.memory_fraction) == (77, 1e-9, 1e-7, 1e-6, "out_of_core", 0.5)
    assert (fit.per_angle.mode, fit.per_angle.fourier_order) == ("fourier", 3)
    assert (fit.multistart.n_starts, fit.multistart.seed) == (4, 7)
    assert fit.streaming.chunk_size == 1000
    assert dict(fit.parameters.initial)["gamma_dot_0"] == 1e-3
    assert ("phi_0", -20.0, 20.0) in fit.parameters.bounds
    assert data.data_file == tmp_path / "raw" / "run1.hdf"  # relative to the config file
    assert data.cache_dir == tmp_path / "cache" and data.cache_compression is False
    assert data.cache_template == "{stem}_{start_frame}.npz"
    assert (data.start_frame, data.end_frame, data.q, data.dt) == (3, 90, 0.0061, 0.05)
    assert data.phi_ranges == ((170.0, 190.0),) and data.fallback_to_all_angles


@pytest.mark.parametrize("mode", ["static_isotropic", "laminar_flow"])
def test_template_round_trips_without_unknown_keys(tmp_path, mode):
    path = tmp_path / "t.yaml"
    path.write_text(config_template(mode), encoding="utf-8")
    loaded = load_config(path)
    assert loaded.unknown_keys == () and loaded.fit.analysis_mode == mode
    names = PHYSICAL_NAMES[mode]
    assert [n for n, _ in loaded.fit.parameters.initial] == list(names)
    assert dict(loaded.fit.parameters.initial) == {n: DEFAULTS[n][0] for n in names}
    assert {b[0]: b[1:] for b in loaded.fit.parameters.bounds} == {
        n: DEFAULTS[n][1:] for n in (*names, "contrast", "offset")}
    assert loaded.data.phi_ranges is None  # the template's ranges are disabled
    assert "# " in path.read_text() and "EDIT" in path.read_text()


def test_unknown_keys_are_listed_and_input_untouched(tmp_path):
    cfg = copy.deepcopy(FULL)
    cfg["analyzer_parameters"]["frame_rate"] = 10
    cfg["experimental_data"]["phi_angles_file"] = "phi.txt"
    cfg["phi_filtering"]["tolerance"] = 3.0
    cfg["extra_section"] = {"a": 1}
    before = copy.deepcopy(cfg)
    with pytest.warns(UserWarning, match="not used by xpcsfit"):
        loaded = config_from_dict(cfg, tmp_path)
    assert loaded.unknown_keys == ("analyzer_parameters.frame_rate", "experimental_data.phi_angles_file",
                                   "extra_section.a", "optimization.stratification.enabled",
                                   "phi_filtering.tolerance")
    assert cfg == before


@pytest.mark.parametrize("path, value, pattern", [
    ("analyzer_parameters.dt", -1.0, r"analyzer_parameters\.dt: .*-1\.0"),
    ("analyzer_parameters.start_frame", 0, r"analyzer_parameters\.start_frame: .*0"),
    ("analyzer_parameters.end_frame", 2, r"analyzer_parameters\.end_frame: 2 is before"),
    ("optimization.nlsq.strategy", "fast", r"optimization\.nlsq\.strategy: .*'fast'"),
    ("experimental_data.cache_compression", "yes",
     r"experimental_data\.cache_compression: .*'yes'"),
    ("experimental_data.data_file_name", 5, r"experimental_data\.data_file_name: .*5"),
    ("phi_filtering.target_ranges", [{"min_angle": 1.0}],
     r"phi_filtering\.target_ranges\[0\]: expected"),
    ("phi_filtering.enabled", "on", r"phi_filtering\.enabled: .*'on'"),
])
def test_invalid_values_name_the_key(tmp_path, path, value, pattern):
    cfg = copy.deepcopy(FULL)
    *parents, leaf = path.split(".")
    node = cfg
    for key in parents:
        node = node[key]
    node[leaf] = value
    with pytest.raises(ValueError, match=pattern):
        config_from_dict(cfg, tmp_path)


def test_malformed_files_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("analysis_mode: laminar_flow\nanalyzer_parameters:\n  dt: [0.1\n",
                   encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml: invalid YAML at line \d+, column \d+"):
        load_config(bad)
    top = tmp_path / "list.yaml"
    top.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"list\.yaml: expected a mapping .* got a list"):
        load_config(top)
    with pytest.raises(ValueError, match="file not found"):
        load_config(tmp_path / "absent.yaml")


def test_missing_extra_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    with pytest.raises(_optional.MissingDependencyError, match=r"xpcsfit\[io\]"):
        _optional.require("yaml")


def test_core_import_does_not_load_optional_modules():
    code = ("import sys, xpcsfit; core = 'xpcsfit.io' not in sys.modules; import xpcsfit.io; "
            "bad = [m for m in ('h5py', 'yaml', 'matplotlib') if m in sys.modules]; "
            "assert core and not bad, (core, bad)")
    subprocess.run([sys.executable, "-c", code], check=True)
    # `import xpcsfit` alone makes xpcsfit.io reachable (imported on first attribute use).
    subprocess.run([sys.executable, "-c", "import xpcsfit; assert callable("
                    "xpcsfit.io.load_config) and callable(xpcsfit.io.plot_results)"], check=True)


def test_generated_configs_show_round_numbers(tmp_path):
    """Start values computed as truth × 1.5 print as 0.9, not 0.8999999999999999, and read
    back to within one rounding of the computed float."""
    computed = {"alpha": 0.6 * 1.5, "gamma_dot_t0": 2e-4 * 1.5, "beta": 0.4 * 1.5}
    text = config_template("laminar_flow", values={"initial": computed})
    assert "0.8999999999999999" not in text and "0.00030000000000000003" not in text
    assert "0.9" in text and "0.0003" in text
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    back = dict(load_config(path).fit.parameters.initial)
    for name, value in computed.items():
        assert abs(back[name] - value) <= 4 * np.finfo(float).eps * abs(value)


def test_template_commented_options_are_valid_when_uncommented(tmp_path):
    text = config_template("laminar_flow")
    for option in ("per_angle_scaling", "active_parameters", "fixed", "loss", "f_scale"):
        assert f"# {option}: " in text, option
        text = text.replace(f"# {option}: ", f"{option}: ")
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    fit = load_config(path).fit
    assert fit.parameters.all_fixed == {"phi0": 0.0}
    assert fit.parameters.active == ("D0", "alpha", "D_offset")
    assert fit.parameters.contrast_start == (0.3,) and fit.solver.loss == "soft_l1"
