"""FitConfig: the typed, immutable fit configuration, built from a homodyne-style dict.

Only host-side Python data (hashable), so a FitConfig can be a static argument of a
jitted function. Unknown keys are collected in `unknown_keys` and reported with one
warning; every invalid value raises ValueError naming its key path.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import warnings
from collections.abc import Mapping
from typing import Any

from ..physics.g2 import CONVENTIONS, MODES
from ..validation import require_positive

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "standard", "out_of_core", "hybrid_streaming")
PER_ANGLE_MODES = ("auto", "individual", "fourier", "constant", "averaged", "varpro")
MODE_ALIASES = {"static": "static_isotropic", "static_isotropic": "static_isotropic",
                "laminar_flow": "laminar_flow", "laminar": "laminar_flow"}

# Keys read by xpcsfit (dotted paths). Sections listed in _FREEFORM are kept as given and
# interpreted by the layer that owns them (defenses, multistart, streaming, stratification).
_FREEFORM = (
    "optimization.nlsq.anti_degeneracy",
    "optimization.nlsq.multi_start",
    "optimization.nlsq.hybrid_streaming",
    "optimization.stratification",
    "experimental_data",
    "phi_filtering",
    "output",
    "metadata",
)
_KNOWN = {
    "analysis_mode",
    "physics.convention",
    "analyzer_parameters.dt",
    "analyzer_parameters.start_frame",
    "analyzer_parameters.end_frame",
    "analyzer_parameters.scattering.wavevector_q",
    "analyzer_parameters.geometry.stator_rotor_gap",
    "initial_parameters.parameter_names",
    "initial_parameters.values",
    "initial_parameters.units",
    "parameter_space.bounds",
    "parameter_space.model",
    "optimization.method",
    "optimization.nlsq.max_iterations",
    "optimization.nlsq.max_nfev",
    "optimization.nlsq.tolerance",
    "optimization.nlsq.ftol",
    "optimization.nlsq.xtol",
    "optimization.nlsq.gtol",
    "optimization.nlsq.x_scale",
    "optimization.nlsq.strategy",
    "optimization.nlsq.memory_fraction",
    "optimization.nlsq.chunk_points",
    "optimization.nlsq.on_initial_violation",
    "optimization.nlsq.recovery",
    "optimization.nlsq.fast_path",
    "optimization.nlsq.n_devices",
    "performance.strategy_override",
}


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if path in _FREEFORM:
            out[path] = value
        elif isinstance(value, Mapping):
            if not value:
                out[path] = value
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _freeze(value: Any) -> Any:
    """Hashable copy of nested dicts/lists (dict → sorted tuple of items)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def thaw(frozen: Any) -> Any:
    """Inverse of the internal freeze for mappings: tuple of (key, value) pairs → dict."""
    if isinstance(frozen, tuple) and all(
        isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) for item in frozen
    ):
        return {k: thaw(v) for k, v in frozen}
    return frozen


def _positive_float(key: str, value: Any) -> float:
    return require_positive(key, value)


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ValueError(f"{key}: expected a positive integer, got {value!r}")
    if int(value) < 1:
        raise ValueError(f"{key}: expected a positive integer, got {value!r}")
    return int(value)


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(f"{key}: expected one of {allowed}, got {value!r}")
    return value.lower()


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """How to fit: model, parameters, solver tolerances, strategy and per-angle mode.

    Build it with `FitConfig.from_dict(homodyne_style_dict)` or directly with keywords.
    `initial_values` and `bounds` hold (name, value) and (name, lower, upper) tuples for
    physical parameters (aliases accepted) and for "contrast"/"offset".
    """

    analysis_mode: str = "laminar_flow"
    convention: str = "paper"
    initial_values: tuple[tuple[str, float], ...] = ()
    bounds: tuple[tuple[str, float, float], ...] = ()
    dt: float | None = None
    q: float | None = None
    L: float | None = None
    start_frame: int | None = None
    end_frame: int | None = None
    strategy: str = "auto"
    per_angle_mode: str = "auto"
    fourier_order: int = 2
    fourier_auto_threshold: int = 6
    ftol: float = 1e-8
    xtol: float = 1e-8
    gtol: float = 1e-8
    max_nfev: int | None = None
    memory_fraction: float | None = None
    chunk_points: int | None = None
    on_initial_violation: str = "clip"
    recovery: bool = True
    fast_path: bool = True
    n_devices: int = 1
    anti_degeneracy: Any = ()
    multi_start: Any = ()
    hybrid_streaming: Any = ()
    stratification: Any = ()
    unknown_keys: tuple[str, ...] = ()
    source_json: str = "{}"

    def __post_init__(self):
        _choice("analysis_mode", self.analysis_mode, MODES)
        _choice("physics.convention", self.convention, CONVENTIONS)
        _choice("optimization.nlsq.strategy", self.strategy, STRATEGIES)
        _choice(
            "optimization.nlsq.anti_degeneracy.per_angle_mode", self.per_angle_mode,
            PER_ANGLE_MODES,
        )
        _choice("optimization.nlsq.on_initial_violation", self.on_initial_violation,
                ("clip", "error"))
        for name in ("ftol", "xtol", "gtol"):
            _positive_float(f"optimization.nlsq.{name}", getattr(self, name))
        if self.max_nfev is not None:
            _positive_int("optimization.nlsq.max_iterations", self.max_nfev)
        if self.chunk_points is not None:
            _positive_int("optimization.nlsq.chunk_points", self.chunk_points)
        _positive_int("optimization.nlsq.anti_degeneracy.fourier_order", self.fourier_order)
        _positive_int(
            "optimization.nlsq.anti_degeneracy.fourier_auto_threshold",
            self.fourier_auto_threshold,
        )
        if self.memory_fraction is not None:
            frac = _positive_float("optimization.nlsq.memory_fraction", self.memory_fraction)
            if frac > 1:
                raise ValueError(
                    f"optimization.nlsq.memory_fraction: expected a fraction in (0, 1], "
                    f"got {self.memory_fraction!r}"
                )
        for key, value in (("analyzer_parameters.dt", self.dt),
                           ("analyzer_parameters.scattering.wavevector_q", self.q),
                           ("analyzer_parameters.geometry.stator_rotor_gap", self.L)):
            if value is not None:
                _positive_float(key, value)

    def replace(self, **changes: Any) -> FitConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def section(self, name: str) -> dict[str, Any]:
        """A free-form section (anti_degeneracy, multi_start, hybrid_streaming,
        stratification) as a plain dict."""
        value = thaw(getattr(self, name))
        return dict(value) if isinstance(value, dict) else {}

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any] | None) -> FitConfig:
        """Read a homodyne-layout config dict (see DESIGN §7); unknown keys are reported."""
        if cfg is None:
            return cls()
        if not isinstance(cfg, Mapping):
            raise ValueError(f"config: expected a mapping, got {type(cfg).__name__}")
        flat = _flatten(cfg)
        kw: dict[str, Any] = {}
        mode = flat.get("analysis_mode", flat.get("parameter_space.model", "laminar_flow"))
        if not isinstance(mode, str) or mode.lower() not in MODE_ALIASES:
            raise ValueError(f"analysis_mode: unknown analysis mode {mode!r}; expected one of "
                             f"{tuple(MODE_ALIASES)}")
        kw["analysis_mode"] = MODE_ALIASES[mode.lower()]
        if "physics.convention" in flat:
            kw["convention"] = _choice("physics.convention", flat["physics.convention"],
                                       CONVENTIONS)
        for key, field in (("analyzer_parameters.dt", "dt"),
                           ("analyzer_parameters.scattering.wavevector_q", "q"),
                           ("analyzer_parameters.geometry.stator_rotor_gap", "L")):
            if flat.get(key) is not None:
                kw[field] = _positive_float(key, flat[key])
        for key, field in (("analyzer_parameters.start_frame", "start_frame"),
                           ("analyzer_parameters.end_frame", "end_frame")):
            if flat.get(key) is not None:
                value = flat[key]
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"{key}: expected an integer, got {value!r}")
                kw[field] = int(value)
        kw["initial_values"] = _initial_values(flat)
        kw["bounds"] = _bounds(flat.get("parameter_space.bounds"))
        tol = flat.get("optimization.nlsq.tolerance")
        for name in ("ftol", "xtol", "gtol"):
            value = flat.get(f"optimization.nlsq.{name}", tol)
            if value is not None:
                kw[name] = _positive_float(f"optimization.nlsq.{name}", value)
        max_it = flat.get("optimization.nlsq.max_nfev", flat.get("optimization.nlsq.max_iterations"))
        if max_it is not None:
            kw["max_nfev"] = _positive_int("optimization.nlsq.max_iterations", max_it)
        strategy = flat.get("optimization.nlsq.strategy", flat.get("performance.strategy_override"))
        if strategy is not None:
            kw["strategy"] = _choice("optimization.nlsq.strategy", strategy, STRATEGIES)
        for key in ("memory_fraction", "chunk_points", "on_initial_violation", "recovery",
                    "fast_path"):
            if flat.get(f"optimization.nlsq.{key}") is not None:
                kw[key] = flat[f"optimization.nlsq.{key}"]
        devices = flat.get("optimization.nlsq.n_devices")
        if devices is not None:
            if devices == "all":
                import jax

                devices = len(jax.devices())
            kw["n_devices"] = _positive_int("optimization.nlsq.n_devices", devices)
        for key in ("recovery", "fast_path"):
            if key in kw and not isinstance(kw[key], bool):
                raise ValueError(f"optimization.nlsq.{key}: expected true/false, got {kw[key]!r}")
        anti = flat.get("optimization.nlsq.anti_degeneracy") or {}
        if not isinstance(anti, Mapping):
            raise ValueError(f"optimization.nlsq.anti_degeneracy: expected a mapping, got {anti!r}")
        if anti.get("per_angle_mode") is not None:
            kw["per_angle_mode"] = _choice("optimization.nlsq.anti_degeneracy.per_angle_mode",
                                           anti["per_angle_mode"], PER_ANGLE_MODES)
        for key in ("fourier_order", "fourier_auto_threshold"):
            if anti.get(key) is not None:
                kw[key] = _positive_int(f"optimization.nlsq.anti_degeneracy.{key}", anti[key])
        for section, field in (("optimization.nlsq.anti_degeneracy", "anti_degeneracy"),
                               ("optimization.nlsq.multi_start", "multi_start"),
                               ("optimization.nlsq.hybrid_streaming", "hybrid_streaming"),
                               ("optimization.stratification", "stratification")):
            value = flat.get(section)
            if value is not None:
                if not isinstance(value, Mapping):
                    raise ValueError(f"{section}: expected a mapping, got {value!r}")
                kw[field] = _freeze(value)
        unknown = tuple(sorted(k for k in flat if k not in _KNOWN and k not in _FREEFORM))
        if unknown:
            warnings.warn(
                f"config keys not used by xpcsfit (ignored): {', '.join(unknown)}", stacklevel=2
            )
        kw["unknown_keys"] = unknown
        kw["source_json"] = json.dumps(cfg, default=str, sort_keys=True)
        return cls(**kw)


def _initial_values(flat: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    names = flat.get("initial_parameters.parameter_names")
    values = flat.get("initial_parameters.values")
    if values is None:
        return ()
    if names is None:
        raise ValueError("initial_parameters.parameter_names: required when values are given")
    if not isinstance(names, list | tuple) or not isinstance(values, list | tuple):
        raise ValueError(
            f"initial_parameters.values: expected lists of names and values, got {values!r}"
        )
    if len(names) != len(values):
        raise ValueError(
            f"initial_parameters.values: {len(values)} values for {len(names)} parameter_names"
        )
    out = []
    for name, value in zip(names, values, strict=True):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"initial_parameters.values: {name} = {value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"initial_parameters.values: {name} = {value!r} is not finite")
        out.append((str(name), number))
    return tuple(out)


def _bounds(spec: Any) -> tuple[tuple[str, float, float], ...]:
    if spec is None:
        return ()
    if isinstance(spec, Mapping):
        items = [{"name": k, "min": v[0], "max": v[1]} for k, v in spec.items()]
    elif isinstance(spec, list | tuple):
        items = list(spec)
    else:
        raise ValueError(f"parameter_space.bounds: expected a list of {{name, min, max}}, got {spec!r}")
    out = []
    for item in items:
        if not isinstance(item, Mapping) or "name" not in item:
            raise ValueError(f"parameter_space.bounds: entry without a name: {item!r}")
        name = str(item["name"])
        try:
            lo, hi = float(item["min"]), float(item["max"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"parameter_space.bounds[{name}]: min and max must be numbers, got {item!r}"
            ) from None
        if not lo < hi:
            raise ValueError(f"parameter_space.bounds[{name}]: min {lo} must be < max {hi}")
        out.append((name, lo, hi))
    return tuple(out)
