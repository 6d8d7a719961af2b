"""FitPlan: every decision a fit makes before it touches the data values.

`make_plan` reads the config, the data's shapes (and, on the host, its geometry) and the
caller's start and fixed parameters, and returns a static, hashable plan: the parameter
space, the per-angle map, the strategy and chunking, the solver options, the defense
layers and the recovery policy. Everything that can go wrong with the input is raised
here, as a ValueError naming the field, before anything is compiled.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..data import XPCSData, is_symmetric, spans_processes, validate_data
from ..physics.parameters import ParameterSpace, canonical_name
from .config import FitConfig
from .config.keys import AD
from .config.options import Defense, Multistart, Screening, Solver, Streaming
from .defense.controller import should_activate
from .held import held_values, per_angle_starts
from .memory import select_strategy
from .pairs import fitted_pairs
from .recovery import RECOVERY_STARTS

GEOMETRY_RTOL = 1e-6
"""Relative disagreement of config and data geometry (L, dt) that raises: both are
measured facts given twice, so beyond rounding they must agree."""
Q_SELECTION_RTOL = 0.10
"""A config q is a q-bin selector: the data's q may differ by the bin spacing, up to the
loaders' 10 %."""


@dataclasses.dataclass(frozen=True)
class FitPlan:
    """A fit's static decisions (hashable; the key of its compiled pipeline)."""

    mode: str
    convention: str
    n_phi: int
    n_t: int
    space: ParameterSpace
    per_angle_mode: str
    fourier_order: int
    fixed: tuple[str, ...]
    start: tuple[str, ...]
    strategy: str
    strategy_info: tuple[tuple[str, Any], ...]
    chunk_points: int | None
    n_devices: int
    streaming: Streaming
    solver: Solver
    x_scale: str | tuple[float, ...]
    defense: Defense
    defense_active: bool
    defense_reason: str
    recovery: tuple[str, ...]
    multistart: Multistart
    on_initial_violation: str
    screening: Screening = Screening()
    screening_active: bool = False
    sigma_source: str = "given"
    noise_rel_se: float = 0.0
    pairs: str = "all"
    symmetric: bool | None = None

    @property
    def n_points(self) -> int:
        """Fitted points: off-diagonal, and only t1 < t2 when `pairs` is "upper"."""
        return self.n_phi * fitted_pairs(self.n_t, self.pairs)

    @property
    def duplicated(self) -> bool | None:
        """Whether each independent value is fitted twice (exactly symmetric data with all
        pairs); None when unknown on the host (traced data: decided in the run)."""
        return False if self.pairs == "upper" else self.symmetric

    @property
    def separable(self) -> bool:
        return self.per_angle_mode == "varpro"

    @property
    def streamed(self) -> bool:
        return self.strategy == "hybrid_streaming"

    @property
    def n_free(self) -> int:
        """Free parameters (varpro: the eliminated contrast/offset count as free)."""
        n, p = self.n_phi, self.space.n_physical - len(self.fixed)
        return {"individual": 2 * n, "varpro": 2 * n, "averaged": 2, "constant": 0,
                "fourier": 2 * (2 * self.fourier_order + 1)}[self.per_angle_mode] + p

    def reparam(self, phi, contrast0, offset0, fixed_values):
        """The per-angle map (`Reparam`) at these angles, constant-mode values and values of
        the fixed parameters (all may be traced)."""
        return self.space.reparam(self.per_angle_mode, phi, contrast_fixed=contrast0,
                                  offset_fixed=offset0, fourier_order=self.fourier_order,
                                  fixed=dict(zip(self.fixed, fixed_values, strict=True)))


class StartValues(eqx.Module):
    """The values behind a plan's names (runtime data, so new starts or fixed values do not
    recompile): `start` for `FitPlan.start`, `fixed` for `FitPlan.fixed`."""

    start: Float[Array, " k"]
    fixed: Float[Array, " f"]


def is_traced(data: XPCSData) -> bool:
    """True under jax.jit / vmap / grad (some data array is a tracer)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(data))


def make_plan(cfg: FitConfig, data: XPCSData, init: Any = None,
              fixed: Mapping[str, float] | None = None, *, sigma_source: str = "given",
              noise_rel_se: float = 0.0) -> tuple[FitPlan, list[str], StartValues]:
    """The plan of `fit(data, cfg, init, fixed=…)`, host notes (warnings) about it, and the
    start and fixed values it names.
    `sigma_source` ("given" | "estimated" | "default") and `noise_rel_se` (relative standard
    error of an estimated σ) describe the σ the data carry."""
    if not isinstance(data, XPCSData):
        raise ValueError(f"data: expected XPCSData, got {type(data).__name__}")
    traced = is_traced(data)
    validate_data(data)  # values only where concrete; shapes always
    notes: list[str] = []
    n_phi, n_t = int(data.g2.shape[0]), int(data.g2.shape[1])
    if not traced:
        _check_geometry(cfg, data)
    space = ParameterSpace.create(cfg.analysis_mode, n_phi,
                                  bounds={k: (lo, hi) for k, lo, hi in cfg.parameters.bounds})
    held, scaling = held_values(space, cfg, init, fixed)
    per_angle = cfg.per_angle.mode
    if scaling:  # contrast and offset held for every angle: the constant per-angle map
        if per_angle not in ("auto", "constant"):
            raise ValueError(f"fixed: contrast and offset are held, which is per_angle_mode "
                             f"constant, but {AD}.per_angle_mode is {per_angle!r}")
        per_angle = "constant"
    held_full = held + tuple((space.full_names[a + (space.n_phi if k == "offset" else 0)], v)
                             for k, v in scaling.items() for a in range(space.n_phi))
    order = tuple(getattr(data, "phi_order", None) or range(n_phi))
    start = _start_overrides(space, cfg, init, held_full, notes,
                             per_angle_starts(space, cfg, order), order)
    values = StartValues(jnp.asarray([v for _, v in start], dtype=jnp.float64),
                         jnp.asarray([v for _, v in held], dtype=jnp.float64))
    if per_angle == "auto":  # the exact per-angle optimum (Fourier biased irregular angles)
        per_angle = "individual"
    plan_kw = dict(mode=cfg.analysis_mode, convention=cfg.convention, n_phi=n_phi, n_t=n_t,
                   space=space, per_angle_mode=per_angle,
                   fourier_order=cfg.per_angle.fourier_order,
                   fixed=tuple(k for k, _ in held), start=tuple(k for k, _ in start))
    # decided here for concrete data; in the run (all pairs) for traced data and for a
    # multi-process job's split data (no process can read them whole)
    symmetric = None if traced or spans_processes(data.g2) else bool(
        is_symmetric(np.asarray(data.g2), np.asarray(data.sigma)))
    probe = FitPlan(**plan_kw, strategy="standard", strategy_info=(), chunk_points=None,
                    n_devices=1, streaming=cfg.streaming, solver=cfg.solver, x_scale="jac",
                    defense=cfg.defense, defense_active=False, defense_reason="",
                    recovery=(), multistart=cfg.multistart, on_initial_violation="clip",
                    symmetric=symmetric,
                    pairs="upper" if symmetric and UPPER_PAIRS else "all")
    if probe.n_points <= probe.n_free:
        raise ValueError(f"data: {probe.n_points} fitted points (n_phi {n_phi}, n_t {n_t}, "
                         f"diagonal excluded{', t1 < t2 only' if probe.pairs == 'upper' else ''}"
                         f") for {probe.n_free} free parameters; need more points than "
                         "parameters")
    strategy, info = _strategy(cfg, probe.n_points, probe.n_free, traced,
                               spans_processes(data.g2))
    active, reason = should_activate(cfg.analysis_mode, n_phi, per_angle, cfg.defense.enable)
    if per_angle == "varpro":
        active, reason = False, VARPRO_NO_DEFENSE
    n_devices = _devices(cfg.strategy.n_devices, data)
    plan = dataclasses.replace(
        probe, strategy=strategy, strategy_info=tuple(sorted(info.items())),
        chunk_points=cfg.strategy.chunk_points, n_devices=n_devices,
        x_scale=_x_scale(cfg.solver.x_scale, space),
        defense_active=active, defense_reason=reason,
        recovery=RECOVERY_STARTS if cfg.recovery else RECOVERY_STARTS[:1],
        on_initial_violation=cfg.parameters.on_initial_violation, screening=cfg.screening,
        screening_active=cfg.screening.enable and not cfg.multistart.enable,
        sigma_source=sigma_source, noise_rel_se=float(noise_rel_se))
    return plan, notes, values


UPPER_PAIRS = True
"""Fit only the pairs t1 < t2 of concrete, exactly symmetric data, in memory and in the host
stream (False: both triangles, each value counted once in the report, as traced fits do —
for comparisons)."""

VARPRO_NO_DEFENSE = ("per_angle_mode varpro: contrast/offset are eliminated exactly, so the "
                     "layers (which act on them) are not applied")


def _check_geometry(cfg: FitConfig, data: XPCSData) -> None:
    """Config geometry must agree with the data's (the data carry what the model uses)."""
    g = cfg.geometry
    for key, given, actual, rtol in (
            ("analyzer_parameters.geometry.stator_rotor_gap", g.L, data.L, GEOMETRY_RTOL),
            ("analyzer_parameters.dt", g.dt, data.dt, GEOMETRY_RTOL),
            ("analyzer_parameters.scattering.wavevector_q", g.q, data.q, Q_SELECTION_RTOL)):
        if given is not None and abs(given - float(actual)) > rtol * abs(float(actual)):
            raise ValueError(f"{key}: the config gives {given!r} but the data have "
                             f"{float(actual)!r}; the data's geometry is what the model uses, "
                             "so remove the key or make them agree")


def _start_overrides(space: ParameterSpace, cfg: FitConfig, init: Any, held, notes,
                     per_angle: Mapping[str, float], order: tuple[int, ...]
                     ) -> tuple[tuple[str, float], ...]:
    """(full-layout name, value) start overrides from the config (per-angle values, then
    named values), `init` (dict) and the held values; checked against the bounds (clip
    with a note, or raise)."""
    overrides: dict[str, float] = dict(per_angle)
    items = [("initial_parameters.parameter_names", k, v) for k, v in cfg.parameters.initial]
    if isinstance(init, Mapping):
        items += [("init", k, v) for k, v in init.items()]
    elif init is not None:
        _check_init_vector(space, init)
    for field, name, value in items:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{field}: {name} = {value!r} is not a number") from None
        if not math.isfinite(v):
            raise ValueError(f"{field}: {name} = {value!r} is not finite")
        if name in ("contrast", "offset"):
            start = 0 if name == "contrast" else space.n_phi
            for a in range(space.n_phi):
                overrides[space.full_names[start + a]] = v
            continue
        key = name if name in space.full_names else _indexed(name, order) or \
            space.canonical(name, field=field)
        if key not in space.full_names:
            raise ValueError(f"{field}: {name!r} is not a parameter of {space.mode} "
                             f"(physical parameters: {space.physical_names})")
        overrides[key] = v
    overrides.update(dict(held))
    lower = dict(zip(space.full_names, space.full_lower(), strict=True))
    upper = dict(zip(space.full_names, space.full_upper(), strict=True))
    out = {}
    for name, v in overrides.items():
        if not lower[name] <= v <= upper[name]:
            message = f"initial value of {name} = {v!r} is outside [{lower[name]}, {upper[name]}]"
            if cfg.parameters.on_initial_violation == "error":
                raise ValueError(f"initial_parameters.values: {message}")
            notes.append(message + "; clipped")
            v = min(max(v, lower[name]), upper[name])
        out[name] = v
    return tuple(sorted(out.items()))


def _indexed(name: str, order: tuple[int, ...]) -> str | None:
    """homodyne's per-angle names contrast_3 / offset_3 (angle 3 in the file's order) →
    contrast[a] / offset[a] (a: its place in ascending φ, ``order[a] == 3``)."""
    match = re.fullmatch(r"(contrast|offset)_(\d+)", str(name))
    if match is None:
        return None
    if int(match[2]) >= len(order):
        raise ValueError(f"init: {name!r} names angle {match[2]} but the data have "
                         f"{len(order)} angles")
    return f"{match[1]}[{order.index(int(match[2]))}]"


def _check_init_vector(space: ParameterSpace, init: Any) -> None:
    if isinstance(init, jax.core.Tracer):
        if tuple(init.shape) != (space.n_full,):
            raise ValueError(f"init: expected a full-layout vector of shape ({space.n_full},), "
                             f"got shape {tuple(init.shape)}")
        return
    arr = np.asarray(init, dtype=np.float64)
    if arr.shape != (space.n_full,):
        raise ValueError(f"init: expected a full-layout vector of shape ({space.n_full},) "
                         f"({space.n_full} names), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"init: values must be finite; {space.full_names[bad]} = {arr[bad]!r}")


def _strategy(cfg: FitConfig, n_points: int, n_free: int, traced: bool,
              shared: bool = False) -> tuple[str, dict]:
    """The strategy for n_points (a multi-process job, `shared`: each process's share)."""
    n_processes = jax.process_count() if shared else 1
    chosen, info = select_strategy(-(-n_points // n_processes), n_free,
                                   memory_fraction_value=cfg.strategy.memory_fraction)
    name = cfg.strategy.name
    if name != "auto":
        chosen, info = name, {"forced": True, **info}
    if shared:
        info = {**info, "processes": n_processes}
    if (traced or shared) and chosen == "hybrid_streaming":
        if name == "auto":  # the data (or this process's share) are on the device already
            chosen = "out_of_core"
        elif traced:
            raise ValueError("optimization.nlsq.strategy: 'hybrid_streaming' streams host data "
                             "and cannot run under jax.jit / vmap / grad; use 'standard' or "
                             "'out_of_core'")
    return chosen, info


def _devices(n_devices: int | str, data: XPCSData) -> int:
    """Devices the pairs are sharded over: all of a multi-process job's (its data are split
    over them), else the configured number."""
    if n_devices == "all" or spans_processes(data.g2):
        return len(jax.devices())
    return int(n_devices)


def _x_scale(spec: Any, space: ParameterSpace) -> str | tuple[float, ...]:
    """The x_scale in the full layout: "jac", or one positive scale per full-layout entry."""
    if spec == "jac":
        return "jac"
    if isinstance(spec, float):
        return (spec,) * space.n_full
    if spec and isinstance(spec[0], tuple):  # (name, scale) pairs
        scales = dict.fromkeys(space.full_names, 1.0)
        for name, value in spec:
            if name in ("contrast", "offset"):
                for full in space.full_names:
                    if full.startswith(name + "["):
                        scales[full] = value
                continue
            scales[canonical_name(name)] = value
        return tuple(scales[n] for n in space.full_names)
    if len(spec) != space.n_full:
        raise ValueError(f"optimization.nlsq.x_scale: expected {space.n_full} scales (full "
                         f"layout {space.full_names}), got {len(spec)}")
    return tuple(spec)
