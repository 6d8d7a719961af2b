"""From a run's `Outcome` to what the caller gets: `FitResult` (arrays, traceable: what a
traced fit returns) and, on the host, `OptimizationResult` with a typed `DeviceInfo`."""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ..solvers.bounds import active_constraints
from ..solvers.covariance import covariance
from ..solvers.trust_region import MESSAGES
from .build import chunk_layout
from .chunking import should_stratify
from .diagnostics import check_reports, screening_report
from .multistart import cluster_basins, start_names
from .pipeline import Outcome
from .plan import FitPlan
from .quality import AMPLITUDES, REASONS, Quality, assess, reasons
from .recovery import RECOVERY_STARTS, describe
from .result import CONVERGENCE, QUALITY, OptimizationResult, convergence_code, jsonable


class FitResult(eqx.Module):
    """A fit's answer as arrays, full layout ``[c…, o…, physical…]`` (angles ascending).

    What `fit` returns under `jax.jit` / `jax.vmap` / `jax.grad`; the host result is built
    from it. `value(name)`, `physical()` and the flags work as on `OptimizationResult`
    (the string flags need concrete values).
    """

    parameters: Float[Array, " n"]
    uncertainties: Float[Array, " n"]
    covariance: Float[Array, "n n"]
    chi_squared: Float[Array, ""]
    reduced_chi_squared: Float[Array, ""]
    success: Bool[Array, ""]
    status: Int[Array, ""]
    nfev: Int[Array, ""]
    njev: Int[Array, ""]
    n_free: Int[Array, ""]
    convergence: Int[Array, ""]
    quality: Int[Array, ""]
    covariance_singular: Bool[Array, ""]
    assessment: Quality
    parameter_names: tuple[str, ...] = eqx.field(static=True)

    def value(self, name: str):
        return self.parameters[..., self.parameter_names.index(name)]

    def uncertainty(self, name: str):
        return self.uncertainties[..., self.parameter_names.index(name)]

    def physical(self) -> dict[str, Any]:
        return {n: self.parameters[..., i] for i, n in enumerate(self.parameter_names)
                if not n.startswith(("contrast[", "offset["))}

    @property
    def quality_flag(self) -> str:
        return QUALITY[int(self.quality)]

    @property
    def convergence_status(self) -> str:
        return CONVERGENCE[int(self.convergence)]


def summarize(plan: FitPlan, out: Outcome) -> FitResult:
    """χ² over the independent fitted points, the covariance (free parameters, mapped to
    the full layout), the quality flag (`quality.assess`). When each value was fitted twice
    (`Outcome.duplicated`: symmetric data over both triangles, as traced fits hold them) the
    cost, JᵀJ and point count are twice those of the independent points: χ² is halved and
    the covariance s²·(JᵀJ)⁻¹ uses half the points, which equals the upper-pairs answer.
    Without a significant signal the physical uncertainties are infinite. Traceable."""
    res = out.result
    half = jnp.where(out.duplicated, 0.5, 1.0)
    n_ind = half * plan.n_points
    cov_w, singular = covariance(res.jtj, res.cost, n_ind, res.active_mask)
    cov = out.A @ cov_w @ out.A.T
    n_free = jnp.sum(res.active_mask == 0)
    chi2 = 2.0 * half * out.raw_cost
    red = chi2 / jnp.maximum(n_ind - n_free, 1)
    finite = jnp.isfinite(chi2) & jnp.all(jnp.isfinite(out.x))
    best = out.attempts.best
    improved = out.attempts.cost[best] < out.attempts.cost_start[best]
    conv = convergence_code(res.success, finite, improved | res.success)
    errors = jnp.sqrt(jnp.clip(jnp.diag(cov), 0.0, None))
    q = assess(plan, out, chi2, red, n_free, conv, finite, errors)
    physical = jnp.arange(errors.shape[0]) >= 2 * plan.n_phi
    no_signal = (q.bits >> REASONS.index("no_signal")) & 1
    errors = jnp.where(physical & (no_signal == 1) & (errors > 0), jnp.inf, errors)
    return FitResult(
        parameters=out.x, uncertainties=errors, covariance=cov, chi_squared=chi2,
        reduced_chi_squared=red, success=res.success & finite, status=res.status,
        nfev=res.nfev, njev=res.njev, n_free=n_free, convergence=conv, quality=q.code,
        covariance_singular=singular, assessment=q, parameter_names=plan.space.full_names)


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """How the fit ran (`OptimizationResult.device_info`; serialised with the same keys).

    `adapter` / `fallback_occurred` are kept for homodyne's result readers: xpcsfit has one
    path, so they are always "xpcsfit" / False."""

    strategy: str
    strategy_info: dict[str, Any]
    recovery_actions: list[dict[str, Any]]
    attempt_problems: list[str]
    peak_memory_gb: float | None
    n_chunks: int
    chunk_points: int
    model_convention: str
    analysis_mode: str
    per_angle_mode: str
    n_free_parameters: int
    fixed_parameters: dict[str, float]
    varpro: dict[str, Any] | None
    defense: dict[str, Any]
    stratification: dict[str, Any]
    streaming: dict[str, Any]
    sigma_is_default: bool
    symmetric_data: bool
    covariance_scale: float  # 2 when each value was fitted twice (counted once), else 1
    covariance_singular: bool
    geometry: dict[str, float]
    config: dict[str, Any]
    backend: str
    device: str
    n_devices: int
    adapter: str = "xpcsfit"
    fallback_occurred: bool = False
    multistart: dict[str, Any] | None = None
    screening: dict[str, Any] | None = None
    per_angle_check: dict[str, Any] | None = None
    goodness_of_fit: dict[str, Any] | None = None
    signal: dict[str, Any] | None = None
    at_bound: list[str] = dataclasses.field(default_factory=list)
    sigma_source: str = "given"
    noise: dict[str, Any] | None = None
    joint: dict[str, Any] | None = None
    fitted_pairs: str = "all"

    def __getitem__(self, key: str) -> Any:  # device_info["strategy"], as a dict
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def keys(self):
        return [f.name for f in dataclasses.fields(self)]

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))


def attempt_records(plan: FitPlan, out: Outcome) -> list[dict]:
    """device_info["recovery_actions"]: one record per attempt that ran (host side), with
    the names of physical parameters an attempt left at a bound."""
    log = jax.device_get(out.attempts)
    phys = [n for n in plan.space.physical_names if n not in plan.fixed]
    lower, upper = np.asarray(out.lower), np.asarray(out.upper)
    kinds = start_names(plan)
    records = []
    for i, ran in enumerate(log.ran):
        if not ran:
            continue
        x = np.asarray(log.x[i])
        active = np.asarray(active_constraints(x, lower, upper, plan.solver.xtol))
        at_bound = [n for n, a in zip(phys, active[len(active) - len(phys):], strict=True) if a]
        records.append({"attempt": kinds[int(log.index[i])],
                        "cost_start": float(log.cost_start[i]), "cost": float(log.cost[i]),
                        "nfev": int(log.nfev[i]), "status": int(log.status[i]),
                        "problems": describe(log.problems[i], at_bound)})
    return records


def host_result(plan: FitPlan, out: Outcome, fr: FitResult, *, extra: dict[str, Any],
                notes: list[str], seconds: float, x0) -> OptimizationResult:
    """The host `OptimizationResult` of a finished run."""
    fr = jax.device_get(fr)
    records = attempt_records(plan, out)
    best = int(out.attempts.best)
    names = start_names(plan)
    kind = names[int(out.attempts.index[best])]
    problems = next((r["problems"] for r in records if r["attempt"] == kind), [])
    checks = check_reports(plan, out, fr)
    info = DeviceInfo(
        recovery_actions=records if len(records) > 1 else [], attempt_problems=problems,
        n_free_parameters=plan.n_free, covariance_singular=bool(fr.covariance_singular),
        symmetric_data=bool(plan.pairs == "upper" or out.duplicated), fitted_pairs=plan.pairs,
        covariance_scale=2.0 if out.duplicated else 1.0,
        screening=screening_report(plan, out), sigma_source=plan.sigma_source, **checks,
        **extra)
    gap = float(jax.device_get(out.checks.screen_gap))
    loose = [f"{n} = {fr.parameters[plan.space.full_names.index(n)]:.4g} ± "
             f"{fr.uncertainties[plan.space.full_names.index(n)]:.2g}"
             for n in AMPLITUDES if n in plan.space.full_names and n not in plan.fixed
             and fr.uncertainties[plan.space.full_names.index(n)]
             > abs(fr.parameters[plan.space.full_names.index(n)])]
    why = reasons(fr.assessment, float(fr.reduced_chi_squared), plan.sigma_source,
                  checks["at_bound"], gap, ", ".join(loose))
    if bool(fr.covariance_singular):
        notes.append("covariance: JᵀJ singular on the free parameters; pseudo-inverse used")
    return OptimizationResult(
        parameters=np.asarray(fr.parameters), uncertainties=np.asarray(fr.uncertainties),
        covariance=np.asarray(fr.covariance), chi_squared=float(fr.chi_squared),
        reduced_chi_squared=float(fr.reduced_chi_squared), success=bool(fr.success),
        message=MESSAGES.get(int(fr.status), f"unknown status {int(fr.status)}"),
        iterations=int(fr.njev), execution_time=seconds,
        convergence_status=CONVERGENCE[int(fr.convergence)],
        quality_flag=QUALITY[int(fr.quality)], device_info=info,
        parameter_names=plan.space.full_names, n_free=int(fr.n_free),
        n_points=plan.n_points // (2 if out.duplicated else 1),
        nfev=int(fr.nfev), initial_parameters=np.asarray(x0), warnings=tuple(notes),
        recovery_actions=info.recovery_actions, sigma_is_default=info.sigma_is_default,
        quality_reasons=tuple(why), sigma_source=plan.sigma_source,
        nlsq_diagnostics=jsonable({
            "solver": "xpcsfit trust-region reflective (Gram form)", "nfev": int(fr.nfev),
            "njev": int(fr.njev), "status": int(fr.status), "attempts": records,
            "screening": info.screening, "per_angle_check": info.per_angle_check,
            "goodness_of_fit": info.goodness_of_fit, "quality_reasons": list(why)}),
        streaming_diagnostics=info.streaming if plan.streamed else None,
        stratification_diagnostics=info.stratification)


def device_extra(plan: FitPlan, cfg, data, out: Outcome) -> dict[str, Any]:
    """The DeviceInfo fields that describe the plan, the data and the layers (host side)."""
    layout = chunk_layout(plan)
    info = dict(plan.strategy_info)
    decision = should_stratify(np.full(plan.n_phi, plan.n_points // plan.n_phi),
                               per_angle_scaling=plan.per_angle_mode != "constant")
    defense = {"active": plan.defense_active, "reason": plan.defense_reason,
               "layers": jsonable(jax.device_get(out.defense)) if plan.defense_active else {}}
    if plan.per_angle_mode == "fourier":
        defense["layers"]["fourier"] = {"ran": True}
    mon = defense["layers"].get("gradient_monitoring")
    if mon is not None:
        fired = mon["triggered_at"] >= 0
        mon["response"] = plan.defense.monitor.response if fired else None
        mon["action"] = MONITOR_ACTIONS[plan.defense.monitor.response] if fired else None
    for layer in defense["layers"].values():
        layer["ran"] = True
    return dict(
        strategy=plan.strategy, strategy_info=info, peak_memory_gb=info.get("peak_memory_gb"),
        n_chunks=layout["n_chunks"], chunk_points=layout["chunk_points"],
        model_convention=plan.convention, analysis_mode=plan.mode,
        per_angle_mode=plan.per_angle_mode,
        varpro=varpro_report(plan, out) if plan.separable else None, defense=defense,
        stratification={**dataclasses.asdict(decision), **layout},
        streaming={**layout, **jsonable(out.streaming),
                   "gauss_newton": {"nfev": int(out.result.nfev),
                                    "status": int(out.result.status)}} if plan.streamed else {},
        sigma_is_default=bool(data.sigma_is_default),
        geometry={"q": float(data.q), "L": float(data.L), "dt": float(data.dt),
                  "source": "data"},
        config={"unknown_keys": list(cfg.unknown_keys), "unused_keys": list(cfg.unused_keys)},
        backend=jax.default_backend(), device=str(jax.devices()[0]),
        n_devices=plan.n_devices,
        multistart=multistart_report(plan, out) if plan.multistart.enable else None)


def multistart_report(plan: FitPlan, out: Outcome) -> dict[str, Any]:
    """device_info["multistart"]: the starts run, their χ², the best and the basins."""
    log = jax.device_get(out.attempts)
    names = start_names(plan)
    chi2 = 2.0 * np.asarray(log.cost)
    ms = plan.multistart
    return {"n_starts": ms.n_starts, "seed": ms.seed,
            "screening": {"kept": [names[i] for i in log.index]} if ms.use_screening else None,
            "starts_run": [names[i] for i in log.index], "chi_squared": chi2.tolist(),
            "best_start": names[int(log.index[int(log.best)])],
            "basins": cluster_basins(np.asarray(log.x), chi2, np.asarray(out.lower),
                                     np.asarray(out.upper))}


def varpro_notes(info: dict[str, Any] | None) -> list[str]:
    """One warning per eliminated value outside its bounds."""
    return [f"varpro: eliminated {name} = {value:.6g} is outside its bounds (not clipped)"
            for name, value in ((info or {}).get("outside_bounds") or {}).items()]


MONITOR_ACTIONS = {"warn": "warning recorded",
                   "hierarchical": "hierarchical stage then re-solve",
                   "reset": "per-angle contrast and offset reset to their means, then re-solve",
                   "abort": "fit marked failed"}


def varpro_report(plan: FitPlan, out: Outcome) -> dict[str, Any]:
    """device_info["varpro"]: the eliminated contrast/offset values outside their bounds
    (name → value; they are not clipped, which would change the objective)."""
    n2 = 2 * plan.n_phi
    x = np.asarray(out.x)[:n2]
    lo, hi = plan.space.full_lower()[:n2], plan.space.full_upper()[:n2]
    outside = {plan.space.full_names[i]: float(x[i]) for i in np.flatnonzero((x < lo) | (x > hi))}
    return {"linear_parameters": "eliminated (exact weighted linear least squares per angle)",
            "gram": "Kaufman", "passes_per_evaluation": 2, "outside_bounds": outside}


__all__ = ["RECOVERY_STARTS", "DeviceInfo", "FitResult", "device_extra", "host_result",
           "summarize"]
