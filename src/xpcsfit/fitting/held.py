"""What a fit holds and where it starts, beyond the plain start values: fixed values (both
config keys and `fit(fixed=…)`), homodyne's `active_parameters`, contrast and offset held
together, and per-angle start values of contrast / offset."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..physics.parameters import ParameterSpace
from .config import FitConfig

SCALING = ("contrast", "offset")
ACTIVE_KEY = "initial_parameters.active_parameters"


def held_values(space: ParameterSpace, cfg: FitConfig, init: Any,
                fixed: Mapping[str, float] | None
                ) -> tuple[tuple[tuple[str, float], ...], dict[str, float]]:
    """((physical name, value), …) held fixed, sorted, and {contrast, offset} held for every
    angle (empty, or both). Raises ValueError naming the key for unknown names, values
    outside the bounds, one of contrast / offset alone, or nothing left to fit."""
    merged: dict[str, float] = {}
    for name, value in {**cfg.parameters.all_fixed, **dict(fixed or {})}.items():
        merged[space.canonical(name, field="fixed")] = value
    scaling = {k: merged.pop(k) for k in SCALING if k in merged}
    if len(scaling) == 1:
        raise ValueError(f"fixed: {next(iter(scaling))} alone cannot be held; contrast and "
                         "offset are held together (one value each for every angle)")
    if cfg.parameters.active is not None:
        active = {space.canonical(n, field=ACTIVE_KEY) for n in cfg.parameters.active}
        starts = _named_starts(space, cfg, init)
        for name, default in zip(space.physical_names, space.physical_default, strict=True):
            if name not in active and name not in merged:
                merged[name] = starts.get(name, float(default))
    for name, value in scaling.items():
        _check_value(name, value, *space.bounds_of(name))
    return _physical(space, merged), scaling


def _named_starts(space: ParameterSpace, cfg: FitConfig, init: Any) -> dict[str, float]:
    """Physical start values by canonical name: the config's, then `init` (a dict)."""
    items = list(cfg.parameters.initial)
    if isinstance(init, Mapping):
        items += list(init.items())
    out = {}
    for name, value in items:
        key = space.canonical(name, field="init") if name not in space.full_names else name
        if key in space.physical_names:
            out[key] = float(value)
    return out


def _check_value(name: str, value: Any, lower: float, upper: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"fixed: {name} = {value!r} is not a number") from None
    if not math.isfinite(v) or not lower <= v <= upper:
        raise ValueError(f"fixed: {name} = {value!r} must be finite and within its bounds "
                         f"[{lower}, {upper}]")
    return v


def _physical(space: ParameterSpace, fixed: Mapping[str, float]
              ) -> tuple[tuple[str, float], ...]:
    out = {name: _check_value(name, value, *space.bounds_of(name))
           for name, value in fixed.items()}
    if len(out) == space.n_physical:
        raise ValueError("fixed: every physical parameter is fixed; nothing to fit")
    return tuple(sorted(out.items()))


def per_angle_starts(space: ParameterSpace, cfg: FitConfig, phi_order: tuple[int, ...] | None
                     ) -> dict[str, float]:
    """Full-layout start overrides from `initial_parameters.per_angle_scaling`: one value
    for every angle, or one per angle in the file's order (mapped to ascending φ)."""
    out: dict[str, float] = {}
    n = space.n_phi
    order = np.arange(n) if phi_order is None else np.asarray(phi_order)
    for offset, name, values in ((0, "contrast", cfg.parameters.contrast_start),
                                 (n, "offset", cfg.parameters.offset_start)):
        if values is None:
            continue
        if len(values) not in (1, n):
            raise ValueError(f"initial_parameters.per_angle_scaling.{name}: {len(values)} "
                             f"values for {n} angles; give 1 or {n}")
        for a in range(n):
            out[space.full_names[offset + a]] = values[0] if len(values) == 1 else \
                values[int(order[a])]
    return out
