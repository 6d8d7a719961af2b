"""A commented homodyne-layout YAML config for `xpcsfit config` and `xpcsfit simulate`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..physics.g2 import MODES
from ..physics.parameters import DEFAULTS, PHYSICAL_NAMES

UNITS = {"D0": "Å²/s", "alpha": "-", "D_offset": "Å²/s", "gamma_dot_t0": "1/s", "beta": "-",
         "gamma_dot_t_offset": "1/s", "phi0": "deg", "contrast": "-", "offset": "-"}


def _y(value: Any) -> str:
    """A YAML flow scalar or list (JSON is valid YAML; floats keep a '.' so YAML 1.1
    readers such as PyYAML see numbers, not strings, in 1.0e-06). Floats are written to 15
    significant digits, so arithmetic noise (0.8999999999999999) shows as 0.9."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_y(x) for x in value) + "]"
    if isinstance(value, float):
        mantissa, _, exponent = repr(float(f"{value:.15g}")).partition("e")
        if exponent and "." not in mantissa:
            mantissa += ".0"
        return mantissa + (f"e{exponent}" if exponent else "")
    return json.dumps(value, ensure_ascii=False)


def _align(text: str, column: int = 34) -> str:
    """Line up trailing '# comments' at `column`."""
    out = []
    for line in text.splitlines():
        body, sep, comment = line.partition(" # ")
        if sep and body.strip() and not body.lstrip().startswith("#"):
            line = f"{body.rstrip():<{column - 1}} # {comment}"
        out.append(line)
    return "\n".join(out) + "\n"


def config_template(mode: str = "laminar_flow", *, values: Mapping[str, Any] | None = None
                    ) -> str:
    """The text of a commented config for `mode` ("static_isotropic" | "laminar_flow").

    `values` overrides entries: dt [s], q [Å⁻¹], L [Å], data_folder_path, data_file_name,
    cache_file_path (None: no cache), start_frame, end_frame, initial (name → start value).
    """
    if mode not in MODES:
        raise ValueError(f"--mode: expected one of {MODES}, got {mode!r}")
    v: dict[str, Any] = {"dt": 0.1, "q": 0.0054, "L": 2.0e6, "start_frame": 1, "end_frame": -1,
                         "data_folder_path": "./data", "data_file_name": "your_xpcs_data.hdf",
                         "cache_file_path": "./cache", "initial": {}}
    v.update(values or {})
    names = PHYSICAL_NAMES[mode]
    start = [float(v["initial"].get(n, DEFAULTS[n][0])) for n in names]
    bounds = "\n".join(
        f"    - {{name: {n}, min: {_y(DEFAULTS[n][1])}, max: {_y(DEFAULTS[n][2])}}}"
        f"{' ' * max(1, 22 - len(n))}# {UNITS[n]}"
        for n in (*names, "contrast", "offset"))
    cache = (f"  cache_file_path: {_y(v['cache_file_path'])}   # NPZ cache of the selected q and "
             "frames; delete the line to disable" if v["cache_file_path"] else
             "  # cache_file_path: ./cache    # NPZ cache of the selected q and frames")
    return _align(f"""\
# xpcsfit configuration ({mode}), homodyne layout.
# Units: q [Å⁻¹], L [Å], dt [s], D [Å²/s], γ̇ [1/s], angles [deg].
# Lines marked EDIT describe your experiment. Relative paths are relative to this file.
# Run: xpcsfit fit --config THIS_FILE [--data FILE.hdf] [--output-dir DIR]

analysis_mode: {mode}          # static_isotropic (3 parameters) | laminar_flow (7)

physics:
  convention: paper            # paper | homodyne (reproduces the homodyne package's code)

analyzer_parameters:
  dt: {_y(v['dt'])}                      # EDIT: time between frames [s]; t = k·dt, k = 0, 1, …
  start_frame: {_y(v['start_frame'])}               # first frame fitted, 1-based, inclusive
  end_frame: {_y(v['end_frame'])}                # last frame fitted, inclusive; -1 = last frame
  scattering:
    wavevector_q: {_y(v['q'])}        # EDIT: q [Å⁻¹]; the nearest q in the file is used
  geometry:
    stator_rotor_gap: {_y(v['L'])}  # L [Å] (2e6 Å = 200 µm); used by laminar_flow

experimental_data:
  data_folder_path: {_y(v['data_folder_path'])}    # EDIT: folder of the HDF5 file
  data_file_name: {_y(v['data_file_name'])}    # EDIT: APS (old) or APS-U two-time file
{cache}

phi_filtering:                 # fit only angles inside these ranges (wrap-around at 360°)
  enabled: false
  fallback_to_all_angles: false  # true: use all angles when no angle is in the ranges
  target_ranges:
    - {{min_angle: -10.0, max_angle: 10.0}}
    - {{min_angle: 170.0, max_angle: 190.0}}

initial_parameters:            # start of the fit; values: null = the defaults below
  parameter_names: {_y(list(names))}
  values: {_y(start)}
  units: {_y([UNITS[n] for n in names])}
  # per_angle_scaling: {{contrast: [0.3], offset: [1.0]}}  # start: 1 value or 1 per angle
  # active_parameters: {_y(list(names[:3]))}  # fit these; hold the others at their start

parameter_space:               # bounds of the fit (contrast/offset: every angle)
  bounds:
{bounds}
  # fixed: {{phi0: 0.0}}        # hold parameters at a value (contrast and offset together)

optimization:
  method: nlsq
  nlsq:
    strategy: auto             # auto | standard | out_of_core | hybrid_streaming
    max_iterations: 200        # maximum solver iterations (function evaluations)
    ftol: 1.0e-8               # relative cost change that stops the solver
    xtol: 1.0e-8               # relative step that stops the solver
    gtol: 1.0e-8               # scaled gradient that stops the solver
    on_initial_violation: clip # clip | error: initial values outside the bounds
    recovery: true             # retry from the bounds centre / geometric mean on failure
    # loss: soft_l1            # linear | soft_l1 | huber | cauchy | arctan (outliers)
    # f_scale: 3.0             # residual size (in σ) where a robust loss turns robust
    # memory_fraction: 0.75    # share of RAM a fit may plan for (strategy choice)
    # n_devices: 1             # "all": shard the data over every JAX device
    # hybrid_streaming:        # data larger than memory (strategy hybrid_streaming)
    #   chunk_size: 50000      # points moved to the device at a time
    #   gauss_newton_iterations: 50  # streamed trust-region passes at most
    #   enable_warmup: false   # opt-in L-BFGS warmup before them (see README)
    #   warmup_iterations: 200 # its iteration cap
    anti_degeneracy:
      per_angle_mode: auto     # auto | individual | fourier | constant | averaged | varpro
      fourier_order: 2
      # regularization: {{enable: true}}    # CV penalty on per-angle contrast/offset
      # hierarchical: {{enable: true}}      # alternate physical / per-angle blocks
    multi_start:               # used by xpcsfit fit --multistart N
      n_starts: 10
      seed: 0
""")
