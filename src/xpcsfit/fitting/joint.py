"""The joint fit across q-bins: the physical parameters (D(t), γ̇(t), φ0) are shared by
every q-bin, each q-bin keeps its own per-angle contrast and offset.

The q-bins are stacked into one dataset (`stacked.StackedData`, each (q, φ) one angle) and
fitted by the ordinary pipeline, whose objective is then the sum of the bins' objectives
(`objectives.JointObjective`: the Gram sums add). Each bin is first fitted alone
(`fit_many`); those fits give the joint start (each bin's contrast/offset, the
inverse-variance mean of the physical values, so global screening is not run) and the
consistency check, the F-test of the nested models (shared vs per-bin physics):

    F = [(χ²_J − Σ_k χ²_k)/d₁] / [Σ_k χ²_k/d₂]  ~  F(d₁, d₂),
    d₁ = (K − 1)·p,  d₂ = Σ_k (N_k − n_free,k)

over K bins and p free physical parameters and N_k independent fitted points (results
report χ² and N over independent points: t1 < t2 only for symmetric c2). It compares costs only, so
degenerate or strongly correlated parameters (a singular per-bin covariance) do not
break it, and a misscaled σ cancels. A p-value below `CONSISTENCY_ALPHA` says the physics
is not the same at every q. Each bin's z-scores (θ_k − θ_J)/SE_k are listed as well. The
report is `result.device_info["joint"]`.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc

from ..data import XPCSData
from ..physics.g2 import g2_model
from .api import fit
from .config import FitConfig
from .many import check_datasets, config_for_bins, fit_many
from .result import OptimizationResult
from .sigma import resolve_sigma
from .stacked import stack_bins

logger = logging.getLogger(__name__)

CONSISTENCY_ALPHA = 0.01
"""p-value of the shared-parameter χ² test below which the q-bins are reported
inconsistent (a 1 % false-alarm rate when the physics is the same at every q)."""


def joint_start(singles: Sequence[OptimizationResult], sizes: Sequence[int]) -> np.ndarray:
    """Joint full-layout start: every bin's fitted contrast and offset, and per physical
    parameter the inverse-variance mean over the bins with a finite, positive SE (the plain
    mean when none has)."""
    contrast = [np.asarray(r.parameters)[:m] for r, m in zip(singles, sizes, strict=True)]
    offset = [np.asarray(r.parameters)[m:2 * m] for r, m in zip(singles, sizes, strict=True)]
    phys = np.stack([np.asarray(r.parameters)[2 * m:] for r, m in zip(singles, sizes,
                                                                       strict=True)])
    se = np.stack([np.asarray(r.uncertainties)[2 * m:] for r, m in zip(singles, sizes,
                                                                        strict=True)])
    ok = np.isfinite(se) & (se > 0)
    w = np.where(ok, 1.0 / np.where(ok, se, 1.0) ** 2, 0.0)
    total = w.sum(axis=0)
    mean = np.where(total > 0, (w * phys).sum(axis=0) / np.where(total > 0, total, 1.0),
                    phys.mean(axis=0))
    return np.concatenate([*contrast, *offset, mean])


def consistency(singles: Sequence[OptimizationResult], joint: OptimizationResult,
                sizes: Sequence[int], free_names: Sequence[str]) -> dict[str, Any]:
    """The F-test of the module docstring, with each bin's z-scores (θ_k − θ_J)/SE_k."""
    n_all = sum(sizes)
    names = list(joint.parameter_names[2 * n_all:])
    free = np.isin(names, list(free_names))
    theta_j = np.asarray(joint.parameters)[2 * n_all:]
    chi2_bins = sum(r.chi_squared for r in singles)
    d1 = (len(sizes) - 1) * int(free.sum())
    d2 = sum(r.n_points - r.n_free for r in singles)
    gain = max(joint.chi_squared - chi2_bins, 0.0)
    residual = chi2_bins / d2
    f_stat = gain / d1 / residual if d1 > 0 and residual > 0 else 0.0
    p_value = (float(betainc(0.5 * d2, 0.5 * d1, d2 / (d2 + d1 * f_stat)))
               if d1 > 0 and f_stat > 0 else 1.0)
    per_bin = []
    for result, m in zip(singles, sizes, strict=True):
        theta = np.asarray(result.parameters)[2 * m:]
        se = np.asarray(result.uncertainties)[2 * m:]
        z = np.where(se > 0, (theta - theta_j) / np.where(se > 0, se, 1.0), np.nan)
        per_bin.append({"z": dict(zip(np.asarray(names)[free].tolist(), z[free].tolist(),
                                      strict=True))})
    return {"f_statistic": f_stat, "dof": [d1, d2], "p_value": p_value,
            "delta_chi2": gain, "chi2_joint": joint.chi_squared, "chi2_bins": chi2_bins,
            "alpha": CONSISTENCY_ALPHA, "consistent": bool(p_value >= CONSISTENCY_ALPHA),
            "per_bin": per_bin,
            "test": "F-test of shared vs per-bin physical parameters: "
                    "[(χ²_J − Σχ²_k)/d1] / [Σχ²_k/d2]"}


def bin_chi2(joint: OptimizationResult, data: XPCSData, start: int, n_all: int,
             config: FitConfig) -> tuple[float, int]:
    """χ² of one bin (σ as fitted, diagonal excluded; t1 < t2 only for symmetric data, the
    independent points) at the joint answer, and its points."""
    x = np.asarray(joint.parameters)
    m = data.n_phi
    model = g2_model(jnp.asarray(x[2 * n_all:]), x[start:start + m],
                     x[n_all + start:n_all + start + m], data.t, data.phi, q=data.q, L=data.L,
                     mode=config.analysis_mode, convention=config.convention)
    r = (np.asarray(data.g2) - np.asarray(model)) / np.asarray(data.sigma)
    keep = ~np.eye(data.n_t, dtype=bool)
    if joint.device_info.get("symmetric_data"):
        keep = np.triu(keep)
    r = r[:, keep]
    return float(np.sum(r * r)), int(r.size)


def fit_joint(
    datasets: Sequence[XPCSData],
    config: FitConfig | Mapping[str, Any] | None = None,
    *,
    fixed: Mapping[str, float] | None = None,
    singles: Sequence[OptimizationResult] | None = None,
) -> OptimizationResult:
    """Fit q-bins (≥ 2 datasets on one time grid, with one gap L) with shared physical
    parameters and per-bin per-angle contrast/offset.

    **Returns:** an `OptimizationResult` in the joint full layout ``[contrast of bin 0…,
    contrast of bin 1…, …, offset of bin 0…, …, physical…]`` (angles of each bin ascending);
    `device_info["joint"]` lists each bin's q, angle range in that layout, χ², χ²_red,
    its single-bin physical values ± SE and the consistency test. `singles`: the single-bin
    results (`fit_many(datasets, config)`) if already computed.
    """
    items = check_datasets(datasets)
    if len(items) < 2:
        raise ValueError(f"datasets: a joint fit needs at least 2 q-bins, got {len(items)}")
    cfg = config_for_bins(config)
    stack_bins(items)  # one time grid, one L: checked before any fit compiles
    if singles is None:
        singles = fit_many(items, cfg, fixed=fixed)
    elif len(singles) != len(items):
        raise ValueError(f"singles: {len(singles)} results for {len(items)} datasets")
    resolved = []  # σ as each bin alone used it (estimated per bin, not over the stack)
    for data in items:
        with_sigma, source, _, _ = resolve_sigma(data, cfg.noise.estimate, False)
        resolved.append(dataclasses.replace(with_sigma, sigma_is_default=False))
    stacked = stack_bins(resolved)
    sizes = stacked.bin_sizes
    joint_cfg = dataclasses.replace(cfg, screening=dataclasses.replace(cfg.screening,
                                                                       enable=False))
    result = fit(stacked, joint_cfg, init=joint_start(singles, sizes), fixed=fixed)
    free_names = [n for n, s in zip(result.parameter_names[2 * stacked.n_phi:],
                                    result.uncertainties[2 * stacked.n_phi:], strict=True)
                  if n not in (result.device_info.fixed_parameters or {})]
    check = consistency(singles, result, sizes, free_names)
    bins, start = [], 0
    for k, (data, single) in enumerate(zip(resolved, singles, strict=True)):
        chi2, points = bin_chi2(result, data, start, stacked.n_phi, cfg)
        m = data.n_phi
        bins.append({"q": float(data.q), "angles": [start, start + m],
                     "phi": np.asarray(data.phi).tolist(), "chi2": chi2, "n_points": points,
                     "reduced_chi2": chi2 / max(points - 2 * m, 1),
                     "single": {"physical": single.physical(),
                                "uncertainties": dict(zip(
                                    single.parameter_names[2 * m:],
                                    np.asarray(single.uncertainties)[2 * m:].tolist(),
                                    strict=True)),
                                "reduced_chi2": single.reduced_chi_squared,
                                "quality": single.quality_flag},
                     **check["per_bin"][k]})
        start += m
    report = {"n_bins": len(items), "q": [b["q"] for b in bins], "bins": bins,
              "consistency": {k: v for k, v in check.items() if k != "per_bin"},
              "sigma_source": singles[0].sigma_source,
              "start": "single-bin fits (contrast/offset; inverse-variance mean of the "
                       "physical values); global screening not run"}
    if not check["consistent"]:
        warnings.warn(f"joint fit: the q-bins disagree on the shared physical parameters "
                      f"(F = {check['f_statistic']:.3g} for {check['dof'][0]} and "
                      f"{check['dof'][1]:.0f} dof, p = {check['p_value']:.2g}); the physics "
                      f"is not the same at every q", stacklevel=2)
    info = dataclasses.replace(result.device_info, joint=report)
    return dataclasses.replace(result, device_info=info)
