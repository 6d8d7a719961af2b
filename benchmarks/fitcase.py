"""One simulated XPCS fit case, measured in its own process (see `benchmarks.isolate`).

`xpcsfit_case` times `xpcsfit.fit` cold and warm, measures the pass floor and the errors
vs truth; `scipy_case` runs scipy.optimize.least_squares(trf, Jacobian from jax) on the
identical data and start. Both return flat JSON-ready dicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.common import device_peak_gb, median_time, peak_rss_gb, timed
from benchmarks.problems import NAMES, config_for, make_data, truth_for

WARM_RUNS = 3


def truth_errors(result: Any, truth: np.ndarray) -> dict[str, float]:
    """Max |fit − truth|/σ and max |fit − truth|/|truth| over the physical parameters."""
    names = NAMES[: truth.shape[0]]
    fit = np.array([result.value(k) for k in names])
    sigma = np.array([result.uncertainty(k) for k in names])
    return {"max_z": float(np.max(np.abs(fit - truth) / sigma)),
            "max_rel_err": float(np.max(np.abs(fit - truth) / np.abs(truth)))}


def data_passes(result: Any) -> int:
    """Passes over the data a fit made: solver evaluations plus the start-cost check, per attempt."""
    attempts = result.device_info.get("recovery_actions") or [{"nfev": result.nfev}]
    return int(sum(a["nfev"] + 1 for a in attempts))


def xpcsfit_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Cold fit, median of `warm_runs` warm fits of the same data, floor (unless
    spec["floor"] is false: no pass_*, counts or overhead keys), errors, memory."""
    import xpcsfit
    from benchmarks.floor import pass_floor
    from xpcsfit.fitting.build import chunk_pairs_for

    data, _ = make_data(spec, seed=spec.get("seed", 0))
    data_rss = peak_rss_gb()
    cfg = config_for(spec)
    cold, cold_s = timed(lambda: xpcsfit.fit(data, cfg))
    warm, warm_s, warm_all = median_time(lambda: xpcsfit.fit(data, cfg),
                                         spec.get("warm_runs", WARM_RUNS))
    fit_rss, fit_device = peak_rss_gb(), device_peak_gb()  # before the floor's own copy
    passes = data_passes(warm)
    floor = {}
    if spec.get("floor", True):
        floor = pass_floor(data, spec["mode"], warm.parameters,
                           chunk_pairs_for(data.n_phi, None))
        floor["overhead"] = warm_s / (passes * floor["pass_s"])
    layers = warm.device_info["defense"]["layers"]
    return {"points": int(data.n_points), "n_phi": int(data.n_phi), "n_t": int(data.n_t),
            "params": int(warm.parameters.size), "strategy": warm.device_info["strategy"],
            "n_chunks": int(warm.device_info["n_chunks"]), "cold_s": cold_s, "warm_s": warm_s,
            "warm_runs_s": warm_all, "warm_min_s": min(warm_all), "iterations": int(warm.iterations), "nfev": int(warm.nfev),
            "passes": passes, "chi2_red": float(warm.reduced_chi_squared),
            "quality": warm.quality_flag,
            "defense_layers": sorted(k for k, v in layers.items() if v.get("ran")),
            **truth_errors(warm, truth_for(spec["mode"])), **floor,
            "points_per_s": data.n_points / warm_s, "data_rss_gb": data_rss,
            "peak_rss_gb": fit_rss, "device_peak_gb": fit_device,
            "x0": np.asarray(warm.initial_parameters).tolist(),
            "x": np.asarray(warm.parameters).tolist()}


def scipy_case(spec: dict[str, Any]) -> dict[str, Any]:
    """scipy least_squares(trf, x_scale="jac", tolerances 1e-8) from spec["x0"] on the same data."""
    import jax
    import jax.numpy as jnp
    import scipy.optimize

    import xpcsfit
    from xpcsfit.fitting.residuals import fitted_residual

    data, _ = make_data(spec, seed=spec.get("seed", 0))
    mode = spec["mode"]
    space = xpcsfit.ParameterSpace.create(mode, data.n_phi)
    fun = jax.jit(lambda x: fitted_residual(x, data, mode=mode))  # the points xpcsfit fits
    jac = jax.jit(jax.jacfwd(lambda x: fitted_residual(x, data, mode=mode)))
    x0 = np.asarray(spec["x0"])
    _, jit_s = timed(lambda: jax.block_until_ready(jac(jnp.asarray(x0))))
    res, seconds = timed(lambda: scipy.optimize.least_squares(
        lambda x: np.asarray(fun(jnp.asarray(x))), x0,
        jac=lambda x: np.asarray(jac(jnp.asarray(x))),
        bounds=(space.full_lower(), space.full_upper()), method="trf", x_scale="jac",
        ftol=1e-8, xtol=1e-8, gtol=1e-8))
    return {"scipy_s": seconds, "scipy_jit_s": jit_s, "scipy_nfev": int(res.nfev),
            "scipy_njev": int(res.njev),
            "scipy_chi2_red": float(2 * res.cost / (res.fun.size - res.x.size)),
            "scipy_peak_rss_gb": peak_rss_gb(), "x": res.x.tolist()}
