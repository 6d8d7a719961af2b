"""Switching from homodyne: its shipped config templates load, its mode names are accepted,
the shear convention is never silently different, and a robust loss resists outliers."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import xpcsfit
from xpcsfit import FitConfig
from xpcsfit.fitting.config.fitconfig import CONVENTION_NOTE

CONFIGS = Path(__file__).parent / "data" / "homodyne_configs"
TEMPLATES = sorted(CONFIGS.glob("homodyne_*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _messages(record) -> list[str]:
    return [str(w.message) for w in record]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_homodyne_templates_load_with_warnings_only(path):
    cfg = _load(path)
    before = copy.deepcopy(cfg)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        config = FitConfig.from_dict(cfg)
    assert cfg == before  # nothing the caller passed is modified
    assert all(issubclass(w.category, UserWarning) for w in record)
    assert config.analysis_mode in ("static_isotropic", "laminar_flow")
    # The unused keys are listed in short form; the full list is kept on the config.
    assert all(len(m) < 1000 for m in _messages(record))
    assert set(config.unknown_keys) | set(config.unused_keys)


@pytest.mark.parametrize("path", [p for p in TEMPLATES if "static" not in p.stem],
                         ids=lambda p: p.stem)
def test_laminar_homodyne_config_without_convention_warns_once(path):
    cfg = _load(path)
    assert "convention" not in cfg.get("physics", {})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        FitConfig.from_dict(cfg)
    assert _messages(record).count(CONVENTION_NOTE) == 1
    for convention in ("paper", "homodyne"):  # saying which silences it
        stated = {**cfg, "physics": {"convention": convention}}
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            assert FitConfig.from_dict(stated).convention == convention
        assert CONVENTION_NOTE not in _messages(record)


def test_static_or_xpcsfit_layout_configs_do_not_warn_about_the_convention():
    static = _load(CONFIGS / "homodyne_static.json")
    plain = {"analysis_mode": "laminar_flow", "optimization": {"nlsq": {"recovery": True}}}
    for cfg in (static, plain):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            FitConfig.from_dict(cfg)
        assert CONVENTION_NOTE not in _messages(record)


@pytest.mark.parametrize("name,mode", [("static", "static_isotropic"),
                                       ("static_anisotropic", "static_isotropic"),
                                       ("static_isotropic", "static_isotropic"),
                                       ("laminar_flow", "laminar_flow")])
def test_homodyne_mode_names(name, mode):
    assert FitConfig.from_dict({"analysis_mode": name}).analysis_mode == mode


def test_unknown_mode_is_refused_naming_it():
    with pytest.raises(ValueError, match="analysis_mode.*'static_sideways'"):
        FitConfig.from_dict({"analysis_mode": "static_sideways"})


def test_soft_l1_resists_outliers_where_the_linear_loss_does_not():
    """Laminar data with 1 % of the points replaced by zingers (+0.5, 50 σ): soft_l1 with
    f_scale = 3 (in σ) recovers the truth within 3σ; the linear loss is pulled away."""
    truth = np.array([3.0e3, 0.6, 20.0, 2.0e-4, 0.4, 1.0e-5, 1.0])
    phi = np.linspace(-150.0, 150.0, 3)
    data, _ = xpcsfit.simulate(truth, 0.35, 1.0, n_t=60, dt=0.2, phi=phi, q=0.005, L=2e6,
                               noise=0.01, seed=12, symmetric=False)
    rng = np.random.default_rng(12)
    g2 = np.array(data.g2)
    hit = rng.random(g2.shape) < 0.01
    g2[hit] += 0.5
    dirty = xpcsfit.XPCSData.from_arrays(g2, np.asarray(data.t), np.asarray(data.phi),
                                         q=0.005, L=2e6, dt=0.2, sigma=np.asarray(data.sigma))
    start = dict(zip(("D0", "alpha", "D_offset", "gamma_dot_t0", "beta",
                      "gamma_dot_t_offset", "phi0"), (truth * 1.5).tolist(), strict=True))
    start["phi0"] = 1.0
    names = ("D0", "alpha", "gamma_dot_t0", "beta")

    # The yardstick is the standard error of a fit of the clean data: the linear fit's own
    # errors are inflated by its χ²_red (≈ 26 here), which would hide its bias.
    clean = xpcsfit.fit(data, FitConfig.create(initial=start))

    def z(res):
        return {n: abs(res.value(n) - truth[i]) / clean.uncertainty(n)
                for i, n in zip((0, 1, 3, 4), names, strict=True)}

    robust = xpcsfit.fit(dirty, FitConfig.create(initial=start, loss="soft_l1", f_scale=3.0))
    linear = xpcsfit.fit(dirty, FitConfig.create(initial=start))
    assert max(z(clean).values()) < 3, z(clean)
    assert max(z(robust).values()) < 3, z(robust)
    assert max(z(linear).values()) > 3, z(linear)


# homodyne 2.23.3 keys that change homodyne's fitted answer (read from its source: the NLSQ
# entry point, its strategies and its data loader), each with a value at which it acts.
# Every one must be implemented here or refused; none may be accepted and dropped.
AD = "optimization.nlsq.anti_degeneracy"
ANSWER_KEYS = [
    ("initial_parameters.fixed_parameters", {"phi0": 1.0}, "implemented"),
    ("initial_parameters.active_parameters", ["D0", "alpha", "D_offset"], "implemented"),
    ("initial_parameters.per_angle_scaling.contrast", [0.4], "implemented"),
    ("initial_parameters.per_angle_scaling.offset", [1.1], "implemented"),
    ("optimization.nlsq.x_scale_map", {"D0": 100.0}, "implemented"),
    ("optimization.nlsq.multi_start.enable", True, "implemented"),
    ("optimization.stratification.enabled", False, "refused"),
    ("optimization.stratification.force_sequential_fallback", True, "refused"),
    ("quality_control.enabled", True, "refused"),
    ("optimization.nlsq.cmaes.enable", True, "refused"),
    ("optimization.nlsq.multi_start.sampling_strategy", "sobol", "refused"),
    (f"{AD}.constant_scaling_threshold", 2, "warned"),
]


def _set_path(cfg: dict, path: str, value) -> dict:
    out = copy.deepcopy(cfg)
    node = out
    *parents, last = path.split(".")
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value
    return out


@pytest.mark.parametrize(("path", "value", "handling"), ANSWER_KEYS,
                         ids=[k[0] for k in ANSWER_KEYS])
def test_keys_that_change_homodyne_answers_are_implemented_or_refused(path, value, handling):
    base = _load(CONFIGS / "homodyne_laminar_flow.json")
    base["physics"] = {"convention": "paper"}
    cfg = _set_path(base, path, value)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        if handling == "refused":
            with pytest.raises(ValueError, match=path.replace(".", r"\.") + ": "):
                FitConfig.from_dict(cfg)
            return
        changed = FitConfig.from_dict(cfg)
        plain = FitConfig.from_dict(base)
    if handling == "implemented":
        assert changed.summary() != plain.summary(), path
        assert path not in changed.unused_keys
    else:  # kept with homodyne's meaning stated in a warning
        assert any(path.rsplit(".", 1)[1] in m and "xpcsfit" in m for m in _messages(record))


def test_every_laminar_template_key_is_known_and_classified():
    """Every key of homodyne's laminar template is read, reported unused, or unknown — and
    the unknown ones are outside the answer-changing list above."""
    cfg = _load(CONFIGS / "homodyne_laminar_flow.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = FitConfig.from_dict(cfg)
    answer = {k[0] for k in ANSWER_KEYS}
    assert not answer & set(config.unknown_keys)
    assert {k for k in answer if k in config.given or k in config.unused_keys} == {
        k for k in answer if _has(cfg, k)}


def _has(cfg: dict, path: str) -> bool:
    node = cfg
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
