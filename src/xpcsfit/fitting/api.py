"""Entry points: `fit` (XPCSData + config) and `fit_nlsq_jax` (homodyne's call)."""

from __future__ import annotations

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
    if plan.streamed:
        out = run(plan, data, values, vector, callback)
        result = summarize(plan, out)
    else:
        out, result = _compiled(plan, data, values, vector, callback)
    if is_traced(data) or isinstance(vector, jax.core.Tracer):
        return result
    extra = {**device_extra(plan, cfg, data, out), "noise": noise,
             "fixed_parameters": dict(zip(plan.fixed, np.asarray(values.fixed).tolist(),
                                          strict=True))}
    notes += varpro_notes(extra["varpro"])
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return host_result(plan, out, result, extra=extra, notes=notes,
                       seconds=time.perf_counter() - start, x0=out.x0)


def fit_nlsq_jax(
    data: XPCSData | Mapping[str, Any],
    config: FitConfig | Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> OptimizationResult:
    """Drop-in for homodyne's `fit_nlsq_jax(data, config)`.

    `data` is the homodyne data dict (phi_angles_list, c2_exp, t1, t2, wavevector_q_list,
    optional sigma) or an `XPCSData`; `config` the homodyne config dict or a `FitConfig`.
    Extra keyword arguments go to `fit`.
    """
    cfg = as_config(config)
    if isinstance(data, Mapping):
        data = XPCSData.from_homodyne_dict(data, cfg)
    return fit(data, cfg, **kwargs)
