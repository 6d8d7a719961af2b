"""Result files: parameters.json, fit_report.json and fitted_data.npz in an output directory,
written all at once with a manifest (`xpcsfit.io.atomic`)."""

from __future__ import annotations

import json
import logging
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ..data import XPCSData
from ..fitting.config import FitConfig
from ..fitting.result import OptimizationResult, jsonable
from ..fitting.sigma import resolve_sigma
from ..physics.g2 import g2_model
from .atomic import MANIFEST, commit, staging
from .paths import prepare_output_dir

logger = logging.getLogger(__name__)

PARAMETERS, REPORT, FITTED = "parameters.json", "fit_report.json", "fitted_data.npz"
FIGURE_RE = re.compile(r"c2_heatmap_phi\d+\.png|c2_heatmaps\.pdf|c2_cuts\.png|parameters\.png")
"""Names of the figures of `xpcsfit.io.plots`."""
_PACKAGES = ("xpcsfit", "jax", "jaxlib", "numpy", "optax", "equinox", "h5py", "pyyaml",
             "matplotlib")
_model = jax.jit(g2_model, static_argnames=("mode", "convention"))


def versions() -> dict[str, str | None]:
    """Versions of Python and of the packages a fit depends on (None: not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def fitted_model(result: OptimizationResult, data: XPCSData, config: FitConfig) -> np.ndarray:
    """The fitted c2 grid (n_phi, n_t, n_t) at the result's parameters."""
    n = data.n_phi
    x = np.asarray(result.parameters)
    return np.asarray(_model(x[2 * n:], x[:n], x[n:2 * n], data.t, data.phi, q=data.q,
                               L=data.L, mode=config.analysis_mode, convention=config.convention))


def parameter_summary(result: OptimizationResult, config: FitConfig) -> dict[str, Any]:
    """The content of parameters.json: values and standard errors by name, χ², quality."""
    names = list(result.parameter_names)
    values = np.asarray(result.parameters, dtype=float)
    errors = np.asarray(result.uncertainties, dtype=float)
    return jsonable({
        "names": names,
        "values": values,
        "uncertainties": errors,
        "parameters": {n: {"value": v, "uncertainty": e}
                       for n, v, e in zip(names, values, errors, strict=True)},
        "chi_squared": result.chi_squared,
        "reduced_chi_squared": result.reduced_chi_squared,
        "quality_flag": result.quality_flag,
        "quality_reasons": list(result.quality_reasons),
        "sigma_source": result.sigma_source,
        "convergence_status": result.convergence_status,
        "convention": config.convention,
        "analysis_mode": config.analysis_mode,
        "n_points": result.n_points,
    })


def _is_result_file(name: str) -> bool:
    return name in (PARAMETERS, REPORT, FITTED) or is_figure(name)


def is_figure(name: str) -> bool:
    """True for the names of the figures `plot_results` draws."""
    return FIGURE_RE.fullmatch(name) is not None


def write_results(out_dir: str | Path, result: OptimizationResult, data: XPCSData,
                  config: FitConfig, *, dataset: dict[str, Any] | None = None,
                  config_echo: dict[str, Any] | None = None, fitted: bool = True
                  ) -> dict[str, Path]:
    """Write `parameters.json`, `fit_report.json` and `fitted_data.npz` to `out_dir`, all at
    once (see `xpcsfit.io.atomic`): the files of an interrupted or failed call never
    appear, and result files and figures of an earlier run are removed (draw new ones with
    `plot_results`). `manifest.json` lists the files.

    fitted_data.npz: phi (n_phi,) [deg] ascending, t (n_t,) [s], c2_exp, c2_fit, residuals
    (= c2_exp − c2_fit), each (n_phi, n_t, n_t), and sigma, the σ the fit used (given,
    estimated or the default; same shape, or a scalar when uniform). The report holds
    `result.to_dict()`, the dataset description, the config (`config_echo`, default: the
    dict the FitConfig was built from) and package versions. `fitted=False` writes no
    fitted_data.npz (a multi-process job: no process holds all of c2). Returns the paths
    (keys parameters, report, fitted (when written), manifest).
    """
    out = Path(out_dir)
    prepare_output_dir(out, "out_dir")
    summary = parameter_summary(result, config)
    report = {
        "result": result.to_dict(),
        "parameters": summary["parameters"],
        "dataset": jsonable({"n_phi": data.n_phi, "n_t": data.n_t, "n_points": data.n_points,
                              "q": float(data.q), "L": float(data.L), "dt": float(data.dt),
                              "phi": np.asarray(data.phi), **(dataset or {})}),
        "config": jsonable(config_echo if config_echo is not None
                            else json.loads(config.source_json)),
        "versions": versions(),
    }
    texts = {PARAMETERS: json.dumps(summary, indent=2), REPORT: json.dumps(report, indent=2)}
    with staging(out) as stage:
        if fitted:
            _write_fitted(stage / FITTED, result, data, config)
        for name, text in texts.items():
            (stage / name).write_text(text, encoding="utf-8")
        moved = commit(stage, out, _is_result_file)
    paths = {"parameters": out / PARAMETERS, "report": out / REPORT,
             **({"fitted": out / FITTED} if fitted else {}), "manifest": out / MANIFEST}
    logger.info("wrote %s", ", ".join(p.name for p in moved))
    return paths


def _write_fitted(path: Path, result: OptimizationResult, data: XPCSData,
                  config: FitConfig) -> None:
    """fitted_data.npz (see `write_results`)."""
    c2_exp = np.asarray(data.g2)
    c2_fit = fitted_model(result, data, config)
    # the σ the fit used: for data without σ, the model-free estimate when it was estimated
    estimated = data.sigma_is_default and result.sigma_source == "estimated"
    sigma = np.asarray(resolve_sigma(data, estimated, traced=False)[0].sigma)
    if np.all(sigma == sigma.flat[0]):
        sigma = sigma.flat[0]  # one value: stored as a scalar (broadcasts)
    np.savez(path, phi=np.asarray(data.phi), t=np.asarray(data.t), c2_exp=c2_exp,
             c2_fit=c2_fit, residuals=c2_exp - c2_fit, sigma=sigma, q=float(data.q))


def summary_lines(result: OptimizationResult, truth: dict[str, float] | None = None) -> list[str]:
    """Text lines: physical parameters ± standard errors (and truth, (fit − truth)/σ when
    `truth` is given), then χ², reduced χ², quality, status, strategy and iterations."""
    lines = []
    if truth:
        lines.append(f"{'parameter':>20} {'truth':>12} {'fit':>12} {'± std err':>12} "
                     f"{'(fit−truth)/σ':>14}")
    else:
        lines.append(f"{'parameter':>20} {'fit':>12} {'± std err':>12}")
    for name, value in result.physical().items():
        err = result.uncertainty(name)
        if truth:
            z = (value - truth[name]) / err if err > 0 else float("nan")
            lines.append(f"{name:>20} {truth[name]:12.5g} {value:12.5g} {err:12.3g} {z:14.2f}")
        else:
            lines.append(f"{name:>20} {value:12.5g} {err:12.3g}")
    info = result.device_info
    lines.append(f"χ² = {result.chi_squared:.6g}, reduced χ² = {result.reduced_chi_squared:.4f}, "
                 f"quality = {result.quality_flag}, status = {result.convergence_status}, "
                 f"strategy = {info.get('strategy')}, per-angle = {info.get('per_angle_mode')}, "
                 f"iterations = {result.iterations}, σ = {_sigma_text(result)}")
    lines.extend(f"  not good: {reason}" for reason in result.quality_reasons)
    return lines


def _sigma_text(result) -> str:
    """Where σ came from, with the estimate when it was estimated."""
    noise = result.device_info.get("noise") or {}
    if result.sigma_source == "estimated" and "overall" in noise:
        return f"estimated ({noise['overall']:.3g})"
    return result.sigma_source
