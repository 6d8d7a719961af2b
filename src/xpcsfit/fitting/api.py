"""Entry points: `fit` (XPCSData + config) and `fit_nlsq_jax` (homodyne's call)."""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ..data import XPCSData
from .config import FitConfig
from .pipeline import run
from .plan import is_traced, make_plan
from .report import FitResult, device_extra, host_result, summarize, varpro_notes
from .result import OptimizationResult
from .sigma import resolve_sigma

logger = logging.getLogger(__name__)


def as_config(config: FitConfig | Mapping[str, Any] | None) -> FitConfig:
    """A `FitConfig` from a FitConfig, a homodyne-layout dict or None (defaults)."""
    if isinstance(config, FitConfig):
        return config
    if config is None or isinstance(config, Mapping):
        return FitConfig.from_dict(config)
    raise ValueError(f"config: expected a FitConfig or a dict, got {type(config).__name__}")


@eqx.filter_jit
def _compiled(plan, data, values, init, callback):
    """The whole run of an in-memory fit as one compiled function (key: plan and shapes;
    start and fixed values, like the data, are arguments)."""
    out = run(plan, data, values, init, callback)
    return out, summarize(plan, out)


def fit(
    data: XPCSData,
    config: FitConfig | Mapping[str, Any] | None = None,
    init: Any = None,
    *,
    fixed: Mapping[str, float] | None = None,
    callback: Callable | None = None,
) -> OptimizationResult | FitResult:
    """Fit the homodyne model to `data` by bounded nonlinear least squares.

    **Arguments:**
    - `data`: an `XPCSData`.
    - `config`: a `FitConfig` or a homodyne-layout config dict (None: defaults).
    - `init`: optional start, a full-layout vector or a dict name → value (overrides the
      config's initial values).
    - `fixed`: optional {physical name: value} held fixed (with the config's
      `parameter_space.fixed`).
    - `callback`: optional ``f(iteration, cost, step_norm, radius)`` called on the host at
      every solver iteration (progress reporting).

    **Returns:** an `OptimizationResult` in the full layout ``[c…, o…, physical…]``; when
    traced (``jax.jit(fit, static_argnames="config")``, ``jax.vmap``, ``jax.grad``) the
    same pipeline runs and returns a `FitResult` of arrays.
    """
    start = time.perf_counter()
    cfg = as_config(config)
    if not isinstance(data, XPCSData):
        raise ValueError(f"data: expected XPCSData, got {type(data).__name__}")
    data, source, rel_se, noise = resolve_sigma(data, cfg.noise.estimate, is_traced(data))
    plan, notes, values = make_plan(cfg, data, init, fixed, sigma_source=source,
                                    noise_rel_se=rel_se)
    vector = None if init is None or isinstance(init, Mapping) else init
    logger.info("plan: %s, %d angles × %d² frames (%d points), per-angle %s, strategy %s, "
                "screening %s, defense layers %s, %d free parameters", plan.mode, plan.n_phi,
                plan.n_t, plan.n_points, plan.per_angle_mode, plan.strategy,
                "on" if plan.screening_active else "off",
                "on" if plan.defense_active else "off", plan.n_free)
    if plan.streamed:
        out = run(plan, data, values, vector, callback)
        result = summarize(plan, out)
    else:
        out, result = _compiled(plan, data, values, vector, callback)
    if is_traced(data) or isinstance(vector, jax.core.Tracer):
        return result
    held = dict(zip(plan.fixed, np.asarray(values.fixed).tolist(), strict=True))
    if plan.per_angle_mode == "constant":  # contrast and offset held at their start
        n = 2 * plan.n_phi
        held |= dict(zip(plan.space.full_names[:n], np.asarray(out.x0)[:n].tolist(),
                         strict=True))
    extra = {**device_extra(plan, cfg, data, out), "noise": noise, "fixed_parameters": held}
    notes += varpro_notes(extra["varpro"])
    for note in notes:
        warnings.warn(note, stacklevel=2)
    final = host_result(plan, out, result, extra=extra, notes=notes,
                        seconds=time.perf_counter() - start, x0=out.x0)
    logger.info("fit: χ² = %.6g (reduced %.4g), %s, quality %s, %d evaluations, %.2f s",
                final.chi_squared, final.reduced_chi_squared, final.convergence_status,
                final.quality_flag, final.nfev, final.execution_time)
    return final


HOMODYNE_DATA_KEYS = {"phi": "phi_angles_list", "g2": "c2_exp", "q": "wavevector_q_list"}
"""homodyne's "direct" data-dict names → its loader names."""


def fit_nlsq_jax(
    data: XPCSData | Mapping[str, Any],
    config: Any = None,
    initial_params: Mapping[str, float] | None = None,
    per_angle_scaling: bool = True,
    use_adapter: bool = False,
    _skip_global_selection: bool = False,
    *,
    fixed: Mapping[str, float] | None = None,
    callback: Callable | None = None,
) -> OptimizationResult:
    """Drop-in for homodyne's `fit_nlsq_jax(data, config, initial_params=None,
    per_angle_scaling=True, use_adapter=False, _skip_global_selection=False)`.

    - `data`: homodyne's data dict, in its loader form (phi_angles_list, c2_exp, t1, t2,
      wavevector_q_list, optional sigma, L, dt) or its direct form (phi, g2, t1, t2, q), or
      an `XPCSData`.
    - `config`: homodyne's `ConfigManager` (any object whose `.config` is the config dict),
      the config dict itself, or a `FitConfig`.
    - `initial_params`: start values by name (homodyne's names and aliases, `contrast` /
      `offset` for every angle, `contrast_3` / `offset_3` per angle in the file's angle
      order, and an optional `per_angle_scaling: {contrast: […], offset: […]}` entry).
    - `per_angle_scaling`: must be True, as in homodyne (False raises).
    - `use_adapter`: accepted and recorded; xpcsfit has one solver path.
    - `_skip_global_selection`: True skips multistart, as homodyne skips its global
      selection (the screening of the start, part of every xpcsfit fit, still runs).

    Returns the `OptimizationResult` with the fields homodyne's result saving reads
    (parameters in homodyne's layout [contrast…, offset…, physical…], uncertainties,
    covariance, chi_squared, reduced_chi_squared, convergence_status, iterations,
    execution_time, device_info, recovery_actions, quality_flag, sigma_is_default,
    nlsq_diagnostics, streaming_diagnostics, stratification_diagnostics).
    """
    if not per_angle_scaling:
        raise ValueError("per_angle_scaling: False (one contrast and offset for all angles) "
                         "was removed from homodyne and is refused here too; set "
                         "optimization.nlsq.anti_degeneracy.per_angle_mode: averaged for it")
    raw = getattr(config, "config", config)  # homodyne's ConfigManager keeps the dict here
    if not isinstance(raw, FitConfig | Mapping | None):
        raise ValueError(f"config: expected a ConfigManager, a dict or a FitConfig, got "
                         f"{type(config).__name__}")
    cfg = as_config(raw)
    if _skip_global_selection and cfg.multistart.enable:
        cfg = dataclasses.replace(cfg, multistart=dataclasses.replace(cfg.multistart,
                                                                      enable=False))
    init, cfg = _homodyne_start(initial_params, cfg)
    if isinstance(data, Mapping):
        data = XPCSData.from_homodyne_dict(
            {HOMODYNE_DATA_KEYS.get(k, k) if HOMODYNE_DATA_KEYS.get(k, k) not in data else k: v
             for k, v in data.items()}, cfg)
    result = fit(data, cfg, init, fixed=fixed, callback=callback)
    result.nlsq_diagnostics.update(use_adapter=bool(use_adapter),
                                   skip_global_selection=bool(_skip_global_selection))
    return result


def _homodyne_start(initial_params: Mapping[str, float] | None, cfg: FitConfig
                    ) -> tuple[dict[str, float] | None, FitConfig]:
    """homodyne's `initial_params` as `fit`'s init dict; its `per_angle_scaling` entry
    becomes the config's per-angle start values."""
    if initial_params is None:
        return None, cfg
    if not isinstance(initial_params, Mapping):
        raise ValueError(f"initial_params: expected a dict name -> value, got "
                         f"{type(initial_params).__name__}")
    init = dict(initial_params)
    scaling = init.pop("per_angle_scaling", None)
    if scaling is not None:
        if not isinstance(scaling, Mapping):
            raise ValueError(f"initial_params['per_angle_scaling']: expected a dict, got "
                             f"{scaling!r}")
        section = {k: (list(np.asarray(v, dtype=float).ravel()) if v is not None else None)
                   for k, v in scaling.items()}
        cfg = cfg.replace(per_angle_scaling=section)
    return init, cfg
