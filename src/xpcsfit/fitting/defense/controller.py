"""The anti-degeneracy controller: which layers run, with which settings, and the report.

Settings come from `optimization.nlsq.anti_degeneracy` (homodyne's keys). The layers are
active only where degeneracy can occur: laminar flow, more than 3 angles, per-angle
scaling (not "constant"), and `enable` true.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .monitor import RESPONSES

PREFIX = "optimization.nlsq.anti_degeneracy"
_SECTIONS = {
    "hierarchical": {"enable": False, "max_outer_iterations": 5, "physical_max_iterations": 100,
                     "per_angle_max_iterations": 50, "outer_tolerance": 1e-6},
    "regularization": {"enable": False, "lambda": "auto", "target_contribution": 0.10,
                       "target_cv": 0.10},
    "gradient_monitoring": {"enable": True, "ratio_threshold": 0.01, "consecutive_triggers": 5,
                            "response": "warn"},
    "shear_weighting": {"enable": False, "min_weight": 0.3, "alpha": 1.0},
}
_TOP = {"enable", "per_angle_mode", "fourier_order", "fourier_auto_threshold", *_SECTIONS}


@dataclasses.dataclass(frozen=True)
class DefenseConfig:
    """Parsed anti-degeneracy settings (see module docstring)."""

    enable: bool = True
    hierarchical: dict = dataclasses.field(default_factory=lambda: dict(_SECTIONS["hierarchical"]))
    regularization: dict = dataclasses.field(
        default_factory=lambda: dict(_SECTIONS["regularization"]))
    gradient_monitoring: dict = dataclasses.field(
        default_factory=lambda: dict(_SECTIONS["gradient_monitoring"]))
    shear_weighting: dict = dataclasses.field(
        default_factory=lambda: dict(_SECTIONS["shear_weighting"]))
    unknown_keys: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> DefenseConfig:
        raw = dict(raw or {})
        unknown = [f"{PREFIX}.{k}" for k in raw if k not in _TOP]
        enable = raw.get("enable", True)
        if not isinstance(enable, bool):
            raise ValueError(f"{PREFIX}.enable: expected true/false, got {enable!r}")
        sections = {}
        for name, defaults in _SECTIONS.items():
            given = raw.get(name) or {}
            if not isinstance(given, Mapping):
                raise ValueError(f"{PREFIX}.{name}: expected a mapping, got {given!r}")
            merged = dict(defaults)
            for key, value in given.items():
                path = f"{PREFIX}.{name}.{key}"
                if key not in defaults:
                    unknown.append(path)
                    continue
                _check(path, key, value, defaults[key])
                merged[key] = value
            sections[name] = merged
        return cls(enable=enable, unknown_keys=tuple(unknown), **sections)


def _check(path: str, key: str, value: Any, default: Any) -> None:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{path}: expected true/false, got {value!r}")
    elif key == "response":
        if value not in RESPONSES:
            raise ValueError(f"{path}: expected one of {RESPONSES}, got {value!r}")
    elif key == "lambda":
        if value != "auto" and not (isinstance(value, int | float) and value >= 0):
            raise ValueError(f"{path}: expected 'auto' or a number >= 0, got {value!r}")
    elif not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{path}: expected a non-negative number, got {value!r}")


def should_activate(mode: str, n_phi: int, per_angle_mode: str, enabled: bool
                    ) -> tuple[bool, str]:
    """Whether the layers apply, and why (not)."""
    if not enabled:
        return False, "disabled in config"
    if mode != "laminar_flow":
        return False, f"analysis mode {mode} has no shear parameters"
    if n_phi <= 3:
        return False, f"n_phi = {n_phi} <= 3"
    if per_angle_mode == "constant":
        return False, "per-angle values are fixed (constant mode)"
    return True, "laminar_flow with > 3 angles and per-angle scaling"
