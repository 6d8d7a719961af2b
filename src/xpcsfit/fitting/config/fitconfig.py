"""FitConfig: the typed, frozen, hashable fit configuration, built from a homodyne-layout
dict through the key table (`keys.py`) and nothing else."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Mapping
from typing import Any

from .keys import AD, BY_PATH, KEYS, NLSQ
from .options import (
    DataSource,
    Defense,
    Geometry,
    Multistart,
    Noise,
    Parameters,
    PerAngle,
    Screening,
    Solver,
    Strategy,
    Streaming,
)

SHORT_NAMES = {
    "analysis_mode": "analysis_mode", "convention": "physics.convention",
    "per_angle_mode": f"{AD}.per_angle_mode", "fourier_order": f"{AD}.fourier_order",
    "ftol": f"{NLSQ}.ftol", "xtol": f"{NLSQ}.xtol", "gtol": f"{NLSQ}.gtol",
    "tolerance": f"{NLSQ}.tolerance", "max_nfev": f"{NLSQ}.max_nfev",
    "x_scale": f"{NLSQ}.x_scale", "strategy": f"{NLSQ}.strategy",
    "chunk_points": f"{NLSQ}.chunk_points", "n_devices": f"{NLSQ}.n_devices",
    "memory_fraction": f"{NLSQ}.memory_fraction", "recovery": f"{NLSQ}.recovery",
    "loss": f"{NLSQ}.loss", "f_scale": f"{NLSQ}.f_scale",
    "screening": f"{NLSQ}.screening.enable", "estimate_sigma": f"{NLSQ}.estimate_sigma",
    "on_initial_violation": f"{NLSQ}.on_initial_violation",
    "bounds": "parameter_space.bounds", "fixed": "parameter_space.fixed",
    "active": "initial_parameters.active_parameters",
    "q": "analyzer_parameters.scattering.wavevector_q",
    "L": "analyzer_parameters.geometry.stator_rotor_gap", "dt": "analyzer_parameters.dt",
}
"""Keyword names of `FitConfig.create` / `FitConfig.replace` → key paths (plus `initial`,
a mapping name → start value, and `per_angle_scaling`, a mapping {contrast, offset} → one
value or one per angle in the file's order)."""


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """How to fit: model, parameters, solver, strategy, per-angle values, defenses.

    Build it with `FitConfig.from_dict(homodyne_layout_dict)` or
    `FitConfig.create(analysis_mode=…, per_angle_mode=…, initial={…}, …)`; read it by
    section (``cfg.solver.ftol``, ``cfg.defense.monitor.response``). `unknown_keys` are
    keys xpcsfit does not know, `unused_keys` homodyne keys it knows but does not use.
    """

    analysis_mode: str = "laminar_flow"
    convention: str = "paper"
    geometry: Geometry = Geometry()
    parameters: Parameters = Parameters()
    per_angle: PerAngle = PerAngle()
    solver: Solver = Solver()
    strategy: Strategy = Strategy()
    streaming: Streaming = Streaming()
    defense: Defense = Defense()
    recovery: bool = True
    multistart: Multistart = Multistart()
    screening: Screening = Screening()
    noise: Noise = Noise()
    data: DataSource = DataSource()
    given: tuple[str, ...] = ()
    unknown_keys: tuple[str, ...] = ()
    unused_keys: tuple[str, ...] = ()
    source_json: str = "{}"

    def __post_init__(self):
        for path in ("analysis_mode", "physics.convention"):
            key = BY_PATH[path]
            key.parse(path, getattr(self, key.fields[0]))

    # ---------------------------------------------------------------- building

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any] | None, *, warn: bool = True) -> FitConfig:
        """Read a homodyne-layout config dict (not modified). Invalid values raise
        ValueError naming the key path; unknown and unused keys are reported in one short
        warning (grouped by section) and kept in `unknown_keys` / `unused_keys`."""
        if cfg is None:
            return cls()
        if not isinstance(cfg, Mapping):
            raise ValueError(f"config: expected a mapping, got {type(cfg).__name__}")
        leaves = _leaves(cfg)
        config = cls()
        unknown, unused = [], []
        for key in KEYS:  # table order: aliases first, so the primary key wins
            if key.path not in leaves:
                continue
            value = key.parse(key.path, leaves[key.path])
            if key.kind == "unused":
                unused.append(key.path)
            for field in key.fields:
                config = _set(config, field, value)
        unknown = sorted(k for k in leaves if k not in BY_PATH)
        unused += _bound_extras(leaves.get("parameter_space.bounds"))
        config = dataclasses.replace(
            config, given=tuple(sorted(k for k in leaves if k in BY_PATH)),
            unknown_keys=tuple(unknown), unused_keys=tuple(sorted(unused)),
            source_json=json.dumps(cfg, default=str, sort_keys=True))
        if warn and (unknown or unused):
            warnings.warn(unused_summary(unknown, unused), stacklevel=2)
        if warn and convention_unstated(config, leaves):
            warnings.warn(CONVENTION_NOTE, stacklevel=2)
        if warn and f"{AD}.constant_scaling_threshold" in leaves and (
                config.per_angle.mode, config.analysis_mode) == ("auto", "laminar_flow"):
            warnings.warn(THRESHOLD_NOTE, stacklevel=2)
        return config

    @classmethod
    def create(cls, **options: Any) -> FitConfig:
        """A config from keyword options (see `SHORT_NAMES`; `initial` = {name: value})."""
        return cls().replace(**options)

    def replace(self, **options: Any) -> FitConfig:
        """A copy with keyword options changed, validated by the key table."""
        config = self
        for name, value in (options.pop("per_angle_scaling", None) or {}).items():
            path = f"initial_parameters.per_angle_scaling.{name}"
            if path not in BY_PATH:
                raise ValueError(f"per_angle_scaling: {name!r} is not contrast or offset")
            config = _set(config, BY_PATH[path].fields[0], BY_PATH[path].parse(path, value))
        initial = options.pop("initial", None)
        if initial is not None:
            if not isinstance(initial, Mapping):
                raise ValueError(f"initial: expected a mapping name -> value, got {initial!r}")
            names = BY_PATH["initial_parameters.parameter_names"].parse(
                "initial_parameters.parameter_names", list(initial))
            try:
                values = BY_PATH["initial_parameters.values"].parse(
                    "initial_parameters.values", list(initial.values()))
            except ValueError as err:  # name the parameter of the dict form
                bad = [k for k, v in initial.items()
                       if not (isinstance(v, int | float) and math.isfinite(v))]
                raise ValueError(f"initial[{bad[0]!r}]: {err}" if bad else str(err)) from err
            config = _set(_set(config, "parameters.values", None), "parameters.names", names)
            config = _set(config, "parameters.values", values)
        for name, value in options.items():
            if name not in SHORT_NAMES:
                raise ValueError(f"{name}: unknown option; expected one of "
                                 f"{tuple(SHORT_NAMES) + ('initial',)}")
            key = BY_PATH[SHORT_NAMES[name]]
            if isinstance(value, Mapping) and name == "bounds":
                value = [{"name": k, "min": v[0], "max": v[1]} for k, v in value.items()]
            parsed = key.parse(key.path, value)
            for field in key.fields:
                config = _set(config, field, parsed)
        return config

    # ---------------------------------------------------------------- reading

    @property
    def strategy_name(self) -> str:
        return self.strategy.name

    def summary(self) -> dict[str, Any]:
        """The settings as a JSON-safe nested dict (for result files)."""
        out = dataclasses.asdict(self)
        out.pop("source_json")
        return out


SECTIONS = frozenset(".".join(k.path.split(".")[:i]) for k in KEYS
                     for i in range(1, k.path.count(".") + 1))
"""Dotted paths that are sections (mappings) of known keys."""


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted path → value of every leaf; a mapping at a known key path is a leaf, a known
    section must be a mapping (or null, read as empty)."""
    out: dict[str, Any] = {}
    for name, value in tree.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping) and path not in BY_PATH:
            out.update(_leaves(value, path + "."))
        elif path in SECTIONS and path not in BY_PATH:
            if value is not None:
                raise ValueError(f"{path}: expected a mapping of keys, got {value!r}")
        else:
            out[path] = value
    return out


def _set(config: Any, field: str, value: Any) -> Any:
    """A copy of the (nested) dataclass with the dotted `field` set to value."""
    head, _, rest = field.partition(".")
    if not rest:
        return dataclasses.replace(config, **{head: value})
    return dataclasses.replace(config, **{head: _set(getattr(config, head), rest, value)})


def _bound_extras(spec: Any) -> list[str]:
    """Extra fields of bounds entries (homodyne's priors, units…): reported as unused."""
    if not isinstance(spec, list | tuple):
        return []
    return [f"parameter_space.bounds[{item.get('name')}].{k}" for item in spec
            if isinstance(item, Mapping) for k in item if k not in ("name", "min", "max")]


CONVENTION_NOTE = (
    "physics.convention not set: xpcsfit uses the paper's shear factor sinc²(½·q·L·cos(φ0−φ)"
    "·∫γ̇); the homodyne package's code uses sinc⁴ with 1/π of that argument, so its γ̇0 "
    "differs on the same data (2.3× larger on one measured file). Set physics.convention: "
    "homodyne to reproduce homodyne's numbers, or paper to silence this note.")


THRESHOLD_NOTE = (
    "anti_degeneracy.constant_scaling_threshold: homodyne's per_angle_mode auto fits one "
    "contrast and offset for all angles from this many angles on; xpcsfit's auto fits each "
    "angle's own (the exact per-angle optimum). Set per_angle_mode: averaged for homodyne's "
    "choice (xpcsfit then checks it against the per-angle optimum).")


def convention_unstated(config: FitConfig, leaves: Mapping[str, Any]) -> bool:
    """A laminar-flow config in homodyne's file layout (analyzer_parameters or
    experimental_data sections) that does not say which shear convention it means."""
    homodyne_layout = any(k.startswith(("analyzer_parameters.", "experimental_data."))
                          for k in leaves)
    return (config.analysis_mode == "laminar_flow" and homodyne_layout
            and "physics.convention" not in leaves)


def unused_summary(unknown: list[str] | tuple[str, ...], unused: list[str] | tuple[str, ...]
                   ) -> str:
    """One short line: the keys xpcsfit does not use (more than 5: counts by section)."""
    keys = sorted(set(unknown) | set(unused))
    if len(keys) <= 5:
        return f"config keys not used by xpcsfit (ignored): {', '.join(keys)}"
    for depth in (3, 2, 1):  # the deepest sections that still make a short line
        groups: dict[str, int] = {}
        for key in keys:
            parts = key.split(".")
            section = ".".join(parts[: max(1, min(len(parts) - 1, depth))])
            groups[section] = groups.get(section, 0) + 1
        if len(groups) <= 12:
            break
    shown = ", ".join(f"{s} ({n})" for s, n in sorted(groups.items()))
    return (f"config: {len(keys)} key(s) not used by xpcsfit, by section: {shown} "
            "(the full list is in the result's device_info['config'])")
