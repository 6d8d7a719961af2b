"""The typed, frozen sections of a `FitConfig` (every field is hashable, so a config can be a
static argument of a jitted function). Defaults here are the single source: the key table
(`keys.py`) reads them for its documentation and template."""

from __future__ import annotations

import dataclasses
from typing import Any

STRATEGIES = ("auto", "standard", "out_of_core", "hybrid_streaming")
PER_ANGLE_MODES = ("auto", "individual", "fourier", "constant", "averaged", "varpro")
MONITOR_RESPONSES = ("warn", "hierarchical", "reset", "abort")

frozen = dataclasses.dataclass(frozen=True)


@frozen
class Geometry:
    """Experiment geometry and frame selection: q [Å⁻¹], L (stator–rotor gap) [Å], dt [s],
    1-based inclusive frames (−1 = last). None: taken from the data."""

    q: float | None = None
    L: float | None = None
    dt: float | None = None
    start_frame: int | None = None
    end_frame: int | None = None


@frozen
class Parameters:
    """Start values (names with values; a None value keeps the default), bounds
    ((name, lower, upper), …), fixed parameters ((name, value), …) from
    `parameter_space.fixed` and from homodyne's `initial_parameters.fixed_parameters`,
    homodyne's `active_parameters` (None: all; the others are held at their start value)
    and per-angle start values of contrast / offset (one value, or one per angle in the
    data's angle order)."""

    names: tuple[str, ...] | None = None
    values: tuple[float | None, ...] | None = None
    bounds: tuple[tuple[str, float, float], ...] = ()
    fixed: tuple[tuple[str, float], ...] = ()
    fixed_homodyne: tuple[tuple[str, float], ...] = ()
    active: tuple[str, ...] | None = None
    contrast_start: tuple[float, ...] | None = None
    offset_start: tuple[float, ...] | None = None
    on_initial_violation: str = "clip"

    def __post_init__(self):
        if self.values is not None and self.names is None:
            raise ValueError("initial_parameters.parameter_names: required when values are given")
        if self.values is not None and len(self.values) != len(self.names):
            raise ValueError(f"initial_parameters.values: {len(self.values)} values for "
                             f"{len(self.names)} parameter_names")

    @property
    def all_fixed(self) -> dict[str, float]:
        """Fixed values of both keys; a name given in both with different values raises."""
        out = dict(self.fixed)
        for name, value in self.fixed_homodyne or ():
            if name in out and out[name] != value:
                raise ValueError(f"initial_parameters.fixed_parameters: {name} = {value!r} "
                                 f"but parameter_space.fixed gives {out[name]!r}")
            out[name] = value
        return out

    @property
    def initial(self) -> tuple[tuple[str, float], ...]:
        """(name, value) pairs of the configured start (null values left out)."""
        if self.values is None:
            return ()
        return tuple((n, v) for n, v in zip(self.names, self.values, strict=True)
                     if v is not None)


@frozen
class PerAngle:
    """How the per-angle contrast and offset are fitted (see README)."""

    mode: str = "auto"
    fourier_order: int = 2


@frozen
class Solver:
    """Trust-region tolerances (scipy's meanings), evaluation budget, scaling and loss."""

    ftol: float = 1e-8
    xtol: float = 1e-8
    gtol: float = 1e-8
    max_nfev: int | None = None
    x_scale: Any = "jac"
    loss: str = "linear"
    f_scale: float = 1.0


@frozen
class Screening:
    """Global screening of the multi-basin parameters before the local fit."""

    enable: bool = True
    subsample_points: int = 20_000
    candidates: int = 3
    phi0_points: int = 5
    gamma_dot_decade_step: float = 0.5
    d0_decade_step: float = 1.0


@frozen
class Noise:
    """σ when the data carry none: estimated from the data (model-free) or the default."""

    estimate: bool = True


@frozen
class Strategy:
    """How the sums over points are formed (README "Strategies")."""

    name: str = "auto"
    memory_fraction: float | None = None
    chunk_points: int | None = None
    n_devices: int | str = 1


@frozen
class Streaming:
    """hybrid_streaming phases."""

    chunk_size: int = 50_000
    enable_warmup: bool = False
    warmup_iterations: int = 200
    warmup_window: int = 5
    warmup_rtol: float = 1e-6
    gauss_newton_iterations: int = 50


@frozen
class Hierarchical:
    enable: bool = False
    max_outer_iterations: int = 5
    physical_max_iterations: int = 100
    per_angle_max_iterations: int = 50
    outer_tolerance: float = 1e-6


@frozen
class Regularization:
    enable: bool = False
    lam: float | str = "auto"
    target_contribution: float = 0.10
    target_cv: float = 0.10


@frozen
class Monitor:
    enable: bool = True
    ratio_threshold: float = 0.01
    consecutive_triggers: int = 5
    response: str = "warn"


@frozen
class ShearWeighting:
    enable: bool = False
    min_weight: float = 0.3
    alpha: float = 1.0


@frozen
class Defense:
    """The anti-degeneracy layers (README "Anti-degeneracy layers")."""

    enable: bool = True
    hierarchical: Hierarchical = Hierarchical()
    regularization: Regularization = Regularization()
    monitor: Monitor = Monitor()
    shear_weighting: ShearWeighting = ShearWeighting()


@frozen
class Multistart:
    enable: bool = False
    n_starts: int = 10
    seed: int = 0
    use_screening: bool = False
    screen_keep_fraction: float = 0.5


@frozen
class DataSource:
    """Where the data are (read by `xpcsfit.io`; the fit itself does not use them)."""

    data_folder_path: str = "."
    data_file_name: str | None = None
    cache_file_path: str | None = None
    cache_filename_template: str | None = None
    cache_compression: bool = True
    phi_filtering: bool = False
    phi_ranges: tuple[tuple[float, float], ...] | None = None
    fallback_to_all_angles: bool = False


SECTIONS = {"geometry": Geometry, "parameters": Parameters, "per_angle": PerAngle,
            "solver": Solver, "strategy": Strategy, "streaming": Streaming,
            "defense": Defense, "multistart": Multistart, "data": DataSource,
            "screening": Screening, "noise": Noise}
"""FitConfig's section fields and their types."""


def field_default(path: str) -> Any:
    """The default of a dotted FitConfig field path (e.g. "defense.monitor.response")."""
    head, *rest = path.split(".")
    node: Any = SECTIONS[head]() if head in SECTIONS else None
    if node is None:
        from .fitconfig import FitConfig

        return getattr(FitConfig(), head)
    for part in rest:
        node = getattr(node, part)
    return node
