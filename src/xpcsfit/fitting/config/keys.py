"""The config key table: every key xpcsfit reads, in homodyne's layout, in one place.

Each `Key` gives the dotted path in the config dict, the FitConfig field(s) it sets, its
check, and a one-line doc. `FitConfig.from_dict` parses with it, the unknown-key report is
"every leaf not in this table", `key_table_markdown()` is the README's key list and
`xpcsfit.io.template` writes the YAML template from it. Kinds:

- "fit": changes the fit; "data": read by `xpcsfit.io` (file, cache, φ ranges);
- "info": descriptive, accepted, changes nothing (units, labels);
- "unused": a homodyne key xpcsfit does not implement; accepted, and reported as unused.

Later keys win over earlier ones for the same field, so aliases come first.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ...physics.g2 import CONVENTIONS, MODES
from ...solvers.loss import LOSSES
from . import parsers as p
from .options import MONITOR_RESPONSES, PER_ANGLE_MODES, STRATEGIES, field_default

MODE_ALIASES = {"static": "static_isotropic", "laminar": "laminar_flow",
                "static_anisotropic": "static_isotropic"}
"""homodyne's mode names. homodyne's `static_anisotropic` is the same 3-parameter static
model with per-angle contrast and offset, which xpcsfit's static_isotropic fits for any
number of angles."""


@dataclasses.dataclass(frozen=True)
class Key:
    path: str
    fields: tuple[str, ...]
    parse: p.Parser
    doc: str
    kind: str = "fit"

    @property
    def default(self) -> Any:
        return field_default(self.fields[0]) if self.fields else None


def _k(path: str, field: str | tuple[str, ...] | None, parse: p.Parser, doc: str,
       kind: str = "fit") -> Key:
    fields = () if field is None else (field,) if isinstance(field, str) else field
    return Key(path, fields, parse, doc, kind)


NLSQ = "optimization.nlsq"
AD = f"{NLSQ}.anti_degeneracy"
_pos = p.number(minimum=0.0, exclusive=True)
_nonneg = p.number(minimum=0.0)
_count = p.integer(minimum=1)
_mode = p.choice(*MODES, aliases=MODE_ALIASES)

KEYS: tuple[Key, ...] = (
    # -- model
    _k("parameter_space.model", "analysis_mode", _mode, "alias of analysis_mode"),
    _k("analysis_mode", "analysis_mode", _mode,
       "static_isotropic (3 physical parameters) | laminar_flow (7)"),
    _k("physics.convention", "convention", p.choice(*CONVENTIONS),
       "paper | homodyne (reproduces the homodyne package's shear factor)"),
    # -- geometry and frames
    _k("experimental_data.dt", "geometry.dt", p.optional(_pos), "alias of analyzer_parameters.dt"),
    _k("analyzer_parameters.dt", "geometry.dt", p.optional(_pos),
       "time between frames [s]; must match the data's time step"),
    _k("analyzer_parameters.start_frame", "geometry.start_frame", p.optional(p.integer()),
       "first frame fitted, 1-based, inclusive"),
    _k("analyzer_parameters.end_frame", "geometry.end_frame",
       p.optional(p.integer(minimum=-1)), "last frame fitted, inclusive; -1 = last"),
    _k("analyzer_parameters.scattering.wavevector_q", "geometry.q", p.optional(_pos),
       "q [Å⁻¹]: the loaders pick the nearest q-bin; fit() checks it against the data"),
    _k("experimental_data.geometry.stator_rotor_gap", "geometry.L", p.optional(_pos),
       "alias of analyzer_parameters.geometry.stator_rotor_gap"),
    _k("analyzer_parameters.geometry.stator_rotor_gap", "geometry.L", p.optional(_pos),
       "stator–rotor gap L [Å]; used by laminar_flow"),
    # -- parameters
    _k("initial_parameters.parameter_names", "parameters.names", p.optional(p.names),
       "names of the start values below (aliases accepted)"),
    _k("initial_parameters.values", "parameters.values", p.optional(p.numbers_or_null),
       "start values; null (or a null entry) = the default"),
    _k("initial_parameters.units", None, p.anything, "units of the values (descriptive)", "info"),
    _k("parameter_space.bounds", "parameters.bounds", p.bounds_list,
       "[{name, min, max}, …] for physical parameters and contrast / offset"),
    _k("parameter_space.fixed", "parameters.fixed", p.fixed_values,
       "{name: value}: hold these parameters at a value (contrast and offset together: "
       "one value for every angle, per_angle_mode constant)"),
    _k("initial_parameters.fixed_parameters", "parameters.fixed_homodyne",
       p.optional(p.fixed_values), "homodyne's form of parameter_space.fixed (merged with it)"),
    _k("initial_parameters.active_parameters", "parameters.active", p.optional(p.names),
       "physical parameters fitted (null: all); the others are held at their start value"),
    _k("initial_parameters.per_angle_scaling.contrast", "parameters.contrast_start",
       p.optional(p.per_angle_values), "start contrast: one value or one per angle (file order)"),
    _k("initial_parameters.per_angle_scaling.offset", "parameters.offset_start",
       p.optional(p.per_angle_values), "start offset: one value or one per angle (file order)"),
    _k(f"{NLSQ}.on_initial_violation", "parameters.on_initial_violation",
       p.choice("clip", "error"), "clip | error: start values outside the bounds"),
    # -- solver
    _k(f"{NLSQ}.tolerance", ("solver.ftol", "solver.xtol", "solver.gtol"), _pos,
       "sets ftol, xtol and gtol at once"),
    _k(f"{NLSQ}.ftol", "solver.ftol", _pos, "relative cost change that stops the solver"),
    _k(f"{NLSQ}.xtol", "solver.xtol", _pos, "relative step that stops the solver"),
    _k(f"{NLSQ}.gtol", "solver.gtol", _pos, "scaled gradient that stops the solver"),
    _k(f"{NLSQ}.max_iterations", "solver.max_nfev", p.optional(_count),
       "alias of max_nfev"),
    _k(f"{NLSQ}.max_nfev", "solver.max_nfev", p.optional(_count),
       "evaluation budget of one solve (default 100 × free parameters)"),
    _k(f"{NLSQ}.x_scale_map", "solver.x_scale", p.x_scale_map,
       "homodyne's {name: scale} form of x_scale (x_scale wins when both are given)"),
    _k(f"{NLSQ}.x_scale", "solver.x_scale", p.x_scale,
       "jac | a number | a list (full layout) | {name: scale}: the solver's variable scaling"),
    _k(f"{NLSQ}.loss", "solver.loss", p.choice(*LOSSES),
       "linear | soft_l1 | huber | cauchy | arctan (scipy's robust losses)"),
    _k(f"{NLSQ}.f_scale", "solver.f_scale", _pos,
       "residual size (in σ) where a robust loss turns from quadratic to robust"),
    _k(f"{NLSQ}.estimate_sigma", "noise.estimate", p.boolean,
       "data without σ: estimate σ from the data (model-free) instead of the default 0.01"),
    *(_k(f"{NLSQ}.screening.{name}", f"screening.{name}", parse, doc)
      for name, parse, doc in (
          ("enable", p.boolean, "screen φ0, γ̇0 and D0 over their bounds before the local fit"),
          ("subsample_points", _count, "points of the stratified subsample screened on"),
          ("candidates", _count, "best screened starts refined on the subsample"),
          ("phi0_points", _count, "φ0 values screened over its bounds"),
          ("gamma_dot_decade_step", _pos, "log10 step of the γ̇0 screening grid"),
          ("d0_decade_step", _pos, "log10 step of the D0 screening grid"))),
    _k("optimization.method", None, p.choice("nlsq"),
       "nlsq (the only method; anything else is refused)", "info"),
    # -- strategy
    _k("performance.strategy_override", "strategy.name", p.optional(p.choice(*STRATEGIES)),
       "alias of optimization.nlsq.strategy"),
    _k(f"{NLSQ}.strategy", "strategy.name", p.choice(*STRATEGIES),
       "auto | standard | out_of_core | hybrid_streaming"),
    _k(f"{NLSQ}.memory_fraction", "strategy.memory_fraction",
       p.optional(p.number(minimum=0.0, exclusive=True, maximum=1.0)),
       "share of RAM a fit may plan for (strategy choice; clamped to [0.1, 0.9])"),
    _k(f"{NLSQ}.chunk_points", "strategy.chunk_points", p.optional(_count),
       "points per chunk of the in-memory data pass"),
    _k(f"{NLSQ}.n_devices", "strategy.n_devices", p.number_or("all", _count),
       "JAX devices the (t1, t2) pairs are sharded over, or all"),
    _k(f"{NLSQ}.recovery", "recovery", p.boolean,
       "retry from the bounds centre / geometric mean when an attempt has problems"),
    _k(f"{NLSQ}.fast_path", None, p.boolean,
       "homodyne's adapter switch; xpcsfit has one path", "unused"),
    # -- streaming
    *(_k(f"{NLSQ}.hybrid_streaming.{name}", f"streaming.{name}", parse, doc)
      for name, parse, doc in (
          ("chunk_size", _count, "points moved to the device at a time"),
          ("enable_warmup", p.boolean, "opt-in L-BFGS warmup before the trust-region phase"),
          ("warmup_iterations", _count, "warmup iteration cap (≤ 500)"),
          ("warmup_window", _count, "warmup stall window"),
          ("warmup_rtol", _nonneg, "warmup stall tolerance (relative loss decrease)"),
          ("gauss_newton_iterations", _count, "streamed trust-region evaluations at most"))),
    # -- per-angle values and defense layers
    _k(f"{AD}.per_angle_mode", "per_angle.mode", p.choice(*PER_ANGLE_MODES),
       "auto (= individual, the exact per-angle optimum) | individual | varpro | fourier | "
       "averaged | constant (the last three are checked against the exact optimum)"),
    _k(f"{AD}.fourier_order", "per_angle.fourier_order", _count, "order K of the Fourier form"),
    _k(f"{AD}.fourier_auto_threshold", None, p.anything,
       "retired: auto always fits the exact per-angle optimum (Fourier only when asked)",
       "unused"),
    _k(f"{AD}.enable", "defense.enable", p.boolean, "master switch of the layers"),
    *(_k(f"{AD}.hierarchical.{name}", f"defense.hierarchical.{name}", parse, doc)
      for name, parse, doc in (
          ("enable", p.boolean, "alternate physical / per-angle block solves"),
          ("max_outer_iterations", _count, "rounds at most"),
          ("physical_max_iterations", _count, "evaluations of a physical block solve"),
          ("per_angle_max_iterations", _count, "evaluations of a per-angle block solve"),
          ("outer_tolerance", _nonneg, "relative change of the physical block that stops"))),
    _k(f"{AD}.regularization.enable", "defense.regularization.enable", p.boolean,
       "CV penalty rows on per-angle contrast / offset"),
    _k(f"{AD}.regularization.lambda", "defense.regularization.lam",
       p.number_or("auto", _nonneg), "penalty weight λ, or auto = target_contribution/target_cv²"),
    _k(f"{AD}.regularization.target_contribution", "defense.regularization.target_contribution",
       _nonneg, "share of the loss a CV of target_cv adds (auto λ)"),
    _k(f"{AD}.regularization.target_cv", "defense.regularization.target_cv", _pos,
       "CV at which the penalty adds target_contribution (auto λ)"),
    *(_k(f"{AD}.gradient_monitoring.{name}", f"defense.monitor.{name}", parse, doc)
      for name, parse, doc in (
          ("enable", p.boolean, "watch ‖∇phys‖/‖∇per-angle‖ during the solve"),
          ("ratio_threshold", _nonneg, "ratio below which an iteration counts as collapsed"),
          ("consecutive_triggers", _count, "collapsed iterations in a row that trigger"),
          ("response", p.choice(*MONITOR_RESPONSES), "warn | hierarchical | reset | abort"))),
    *(_k(f"{AD}.shear_weighting.{name}", f"defense.shear_weighting.{name}", parse, doc)
      for name, parse, doc in (
          ("enable", p.boolean, "weight angles by their shear sensitivity |cos(φ0 − φ)|^α"),
          ("min_weight", p.number(minimum=0.0, maximum=1.0), "weight of insensitive angles"),
          ("alpha", _nonneg, "exponent α"))),
    # -- multistart
    *(_k(f"{NLSQ}.multi_start.{name}", f"multistart.{name}", parse, doc)
      for name, parse, doc in (
          ("enable", p.boolean, "fit from Latin-hypercube starts too and keep the best"),
          ("n_starts", _count, "Latin-hypercube starts (plus the configured one)"),
          ("seed", p.integer(minimum=0), "seed of the starts"),
          ("use_screening", p.boolean, "keep only the starts of lowest cost"),
          ("screen_keep_fraction", p.number(minimum=0.0, exclusive=True, maximum=1.0),
           "share of starts kept by screening"))),
    # -- homodyne's stratification section: xpcsfit's chunks hold every angle by construction
    *(_k(f"optimization.stratification.{name}", None, p.anything,
         "homodyne's angle stratification; xpcsfit's chunks of (t1, t2) pairs hold every "
         "angle equally by construction", "unused")
      for name in ("target_chunk_size", "max_imbalance_ratio", "check_memory_safety",
                   "use_index_based", "collect_diagnostics", "log_diagnostics")),
    # -- homodyne keys that change homodyne's answer in ways xpcsfit does not implement:
    #    accepted where they do nothing, refused otherwise (never dropped quietly)
    *(_k(path, None, p.inert_only(*inert, why=why), why, "unused")
      for path, inert, why in (
          ("optimization.stratification.enabled", ("auto", True),
           "false sends homodyne's large fits past its per-angle handling; xpcsfit fits "
           "every point with every angle's own contrast and offset"),
          ("optimization.stratification.force_sequential_fallback", (False,),
           "xpcsfit has no per-angle sequential fit to combine; it fits all angles jointly"),
          ("quality_control.enabled", (False,),
           "homodyne's quality control repairs c2 before fitting; xpcsfit fits the data as "
           "given and refuses non-finite values"),
          (f"{NLSQ}.cmaes.enable", (False,),
           "xpcsfit has no CMA-ES; its screening and multi_start cover the global search"),
          (f"{NLSQ}.multi_start.sampling_strategy", ("latin_hypercube", "lhs"),
           "xpcsfit's multistart samples a Latin hypercube"))),
    _k(f"{AD}.constant_scaling_threshold", None, p.anything,
       "homodyne's auto switch to one shared contrast/offset above this many angles; "
       "xpcsfit's auto fits each angle's own at any count", "unused"),
    # -- data (read by xpcsfit.io)
    _k("experimental_data.data_folder_path", "data.data_folder_path", p.text,
       "folder of the data file (relative to the config file)", "data"),
    _k("experimental_data.data_file_name", "data.data_file_name", p.optional(p.text),
       "APS (old) or APS-U two-time HDF5 file", "data"),
    _k("experimental_data.cache_file_path", "data.cache_file_path", p.optional(p.text),
       "NPZ cache folder of the selected q and frames (none: no cache)", "data"),
    _k("experimental_data.cache_filename_template", "data.cache_filename_template",
       p.optional(p.text), "cache file name: plain {field} / ${field} substitution", "data"),
    _k("experimental_data.cache_compression", "data.cache_compression", p.boolean,
       "compress the NPZ cache", "data"),
    *(_k(f"experimental_data.{name}", None, p.anything, "descriptive", "info")
      for name in ("file_format", "data_type", "exchange_key")),
    *(_k(f"{prefix}phi_filtering.{name}", f"data.{field}", parse, doc, "data")
      for prefix in ("experimental_data.", "")
      for name, field, parse, doc in (
          ("enabled", "phi_filtering", p.boolean, "fit only angles inside target_ranges"),
          ("target_ranges", "phi_ranges", p.optional(p.phi_ranges),
           "[{min_angle, max_angle}, …] in degrees, wrap-around at 360°"),
          ("fallback_to_all_angles", "fallback_to_all_angles", p.boolean,
           "use all angles when none lies in the ranges"))),
)

BY_PATH = {key.path: key for key in KEYS}


def key_table_markdown(kinds: tuple[str, ...] = ("fit", "data", "unused")) -> str:
    """The README's list of config keys (Markdown table), generated from `KEYS`."""
    lines = ["| key | default | what |", "|---|---|---|"]
    for key in KEYS:
        if key.kind not in kinds:
            continue
        default = "—" if key.default is None else f"`{key.default}`"
        doc = key.doc + (" (not used by xpcsfit)" if key.kind == "unused" else "")
        lines.append(f"| `{key.path}` | {default} | {doc} |")
    return "\n".join(lines)
