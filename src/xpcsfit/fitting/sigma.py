"""σ for data that carry none: the model-free estimate (`xpcsfit.noise`), else the default.

APS files carry no σ. The default 0.01 makes χ² (and so the quality flag) arbitrary: a
perfect model on 3 % noise would read χ²_red ≈ 9. So by default (`optimization.nlsq.
estimate_sigma`) the fit estimates σ per angle and lag band from the data's second
differences along constant lag, independently of the model, and records where σ came from
(`sigma_source`: "given" | "estimated" | "default") with the estimate itself.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..data import XPCSData, spans_processes
from ..noise import estimate_sigma

logger = logging.getLogger(__name__)

RELATIVE_ERROR = 1.1
"""σ̂'s relative standard error is ≈ 1.1/√n for n independent difference samples
(`xpcsfit.noise`)."""


def resolve_sigma(data: XPCSData, estimate: bool, traced: bool
                  ) -> tuple[XPCSData, str, float, dict[str, Any] | None]:
    """(data with the σ the fit uses, sigma_source, σ̂'s relative error, report)."""
    if not data.sigma_is_default:
        return data, "given", 0.0, None
    if not estimate:
        return data, "default", 0.0, None
    try:
        shared = spans_processes(data.g2)  # a multi-process job's split data stay split
        est = estimate_sigma(data.g2 if traced or shared else np.asarray(data.g2))
    except ValueError as err:  # too few frames for second differences
        logger.warning("σ estimate not possible (%s); the default 0.01 is used", err)
        return data, "default", 0.0, {"error": str(err)}
    rel_se = RELATIVE_ERROR / math.sqrt(max(int(est.n_total), 1))
    overall = est.overall
    if not traced and not (np.isfinite(float(overall)) and float(overall) > 0):
        logger.warning("σ estimate is zero (the data are exactly smooth); default 0.01 used")
        return data, "default", 0.0, {"error": "the data are exactly smooth: σ̂ = 0"}
    floor = 1e-3 * overall  # a band with no noise at all must not get infinite weight
    sigma = jnp.maximum(jnp.asarray(est.sigma), floor)
    report = None if traced else {
        "method": "trimmed second differences along constant lag, per angle and lag band",
        "overall": float(overall), "per_angle": np.asarray(est.per_angle).tolist(),
        "lag_bands": list(est.bands), "per_band": np.asarray(est.per_band).tolist(),
        "relative_error": rel_se}
    return eqx.tree_at(lambda d: d.sigma, data, sigma), "estimated", rel_se, report
