"""device_info entries of the quality checks and of screening (host side)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from .quality import at_bound_names


def _f(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def check_reports(plan, out, fr) -> dict[str, Any]:
    """The per-angle check, goodness of fit, signal test and bound check, as JSON-able dicts."""
    q = jax.device_get(fr.assessment)
    checks = jax.device_get(out.checks)
    restricted = plan.per_angle_mode in ("fourier", "averaged", "constant")
    return {
        "per_angle_check": ({"delta_chi_squared": _f(q.per_angle_delta_chi2),
                             "p_value": _f(q.per_angle_p),
                             "passed": bool(not float(q.per_angle_p) < 1e-3)}
                            if restricted else None),
        "goodness_of_fit": ({"z": _f(q.z), "p_value": _f(q.p_goodness), "z_effective": _f(q.z_eff),
                             "sigma_source": plan.sigma_source,
                             "sigma_relative_error": plan.noise_rel_se}
                            if plan.sigma_source != "default" else None),
        "signal": {"delta_chi_squared_vs_constant": _f(q.signal_delta_chi2),
                   "p_value": _f(q.signal_p)},
        "at_bound": at_bound_names(plan, checks.at_bound),
    }


def screening_report(plan, out) -> dict[str, Any] | None:
    """device_info["screening"]: the grid, the refined candidates and the one chosen."""
    if out.screening is None:
        return None
    s = jax.device_get(out.screening)
    log = jax.device_get(out.attempts)
    ran = bool(log.ran[1]) if len(log.ran) > 1 else False
    names = plan.space.physical_names
    return {"grid_points": s.n_grid, "subsample_points": s.subsample_points,
            "start_profiled_cost": float(s.start_cost),
            "best_grid_costs": np.asarray(s.best_grid_costs).tolist(),
            "candidates": [dict(zip(names, map(float, row), strict=True))
                           for row in np.asarray(s.refined_physical)],
            "candidate_costs": np.asarray(s.refined_costs).tolist(),
            "chosen": int(np.argmin(np.asarray(s.refined_costs))),
            "screened_start_ran": ran,
            "screened_start_won": ran and int(log.best) == 1,
            "lower_basin_unreached": bool(jax.device_get(out.checks.lower_basin))}
