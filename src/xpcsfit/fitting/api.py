"""Entry points: `fit` (XPCSData + FitConfig) and `fit_nlsq_jax` (homodyne dicts)."""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..data import XPCSData, is_symmetric
from ..physics.parameters import ParameterSpace
from ..solvers.covariance import covariance
from .chunking import check_grid_chunks, should_stratify
from .config import FitConfig
from .defended import defended_solve
from .defense import DefenseConfig, should_activate
from .functional import fit_arrays
from .hybrid import HostData, StreamObjective, StreamPass, streaming_settings
from .memory import select_strategy
from .recovery import RECOVERY_STARTS, attempt_problems, recovery_start
from .result import OptimizationResult, convergence_status, quality_flag
from .sharded import device_mesh, shard_problem
from .strategies import GridObjective, chunk_pairs_for
from .structured import make_grid_problem
from .varpro import VARPRO_NO_DEFENSE, varpro_report

logger = logging.getLogger(__name__)


def _as_config(config: FitConfig | Mapping[str, Any] | None) -> FitConfig:
    if isinstance(config, FitConfig):
        return config
    if config is None or isinstance(config, Mapping):
        return FitConfig.from_dict(config)
    raise ValueError(f"config: expected a FitConfig or a dict, got {type(config).__name__}")


def _initial_full(
    data: XPCSData, space: ParameterSpace, cfg: FitConfig, init: Any
) -> tuple[np.ndarray, list[str]]:
    """Full-layout start: defaults, config values, quantile contrast/offset, then `init`."""
    x0 = np.array(space.full_default(), dtype=np.float64)
    n = data.n_phi
    contrast_q, offset_q = data.quantile_estimates()
    x0[:n], x0[n : 2 * n] = contrast_q, offset_q
    names = space.full_names
    overrides: dict[str, float] = {}
    for name, value in cfg.initial_values:
        overrides[name] = value
    if isinstance(init, Mapping):
        overrides.update({str(k): float(v) for k, v in init.items()})
    elif init is not None:
        arr = np.array(init, dtype=np.float64)
        if arr.shape != x0.shape:
            raise ValueError(
                f"init: expected a full-layout vector of shape {x0.shape} "
                f"({len(names)} names), got shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"init: values must be finite, got {arr}")
        x0 = arr
    for name, value in overrides.items():
        if name in ("contrast", "offset"):
            start = 0 if name == "contrast" else n
            x0[start : start + n] = value
            continue
        canonical = space.canonical(name)
        x0[names.index(canonical)] = value
    return space.check_initial(x0, on_violation=cfg.on_initial_violation)


def _at_bound_names(active: np.ndarray, free_names: tuple[str, ...]) -> list[str]:
    return [
        name
        for name, a in zip(free_names, active, strict=True)
        if a != 0 and not name.startswith(("contrast", "offset", "c_", "o_", "s_"))
    ]


def fit(
    data: XPCSData,
    config: FitConfig | Mapping[str, Any] | None = None,
    init: Any = None,
    *,
    callback: Callable | None = None,
) -> OptimizationResult:
    """Fit the homodyne model to `data` by bounded nonlinear least squares.

    **Arguments:**
    - `data`: an `XPCSData`.
    - `config`: a `FitConfig` or a homodyne-style config dict (None: defaults).
    - `init`: optional start, a full-layout vector or a dict name → value; overrides the
      config's initial values.
    - `callback`: optional ``f(iteration, cost, step_norm, radius)`` called on the host at
      every solver iteration (progress reporting).

    **Returns:** an `OptimizationResult` in the full layout ``[c…, o…, physical…]``.
    When traced (``jax.jit(fit, static_argnames="config")`` with a `FitConfig`,
    ``jax.vmap``, ``jax.grad``) it returns the arrays of `fit_arrays` instead.
    """
    start_time = time.perf_counter()
    if not isinstance(data, XPCSData):
        raise ValueError(f"data: expected XPCSData, got {type(data).__name__}")
    cfg = _as_config(config)
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(data)):
        return fit_arrays(data, cfg, init)  # under jit / vmap / grad: the pure path
    space = ParameterSpace.create(
        cfg.analysis_mode,
        data.n_phi,
        bounds={name: (lo, hi) for name, lo, hi in cfg.bounds} or None,
    )
    x0_full, notes = _initial_full(data, space, cfg, init)
    notes = list(notes)
    per_angle_mode = cfg.per_angle_mode
    n = data.n_phi
    reparam = space.reparam(
        per_angle_mode,
        np.asarray(data.phi),
        contrast_fixed=x0_full[:n],
        offset_fixed=x0_full[n : 2 * n],
        fourier_order=cfg.fourier_order,
        fourier_auto_threshold=cfg.fourier_auto_threshold,
    )
    A = jnp.asarray(reparam.A)
    b = jnp.asarray(reparam.b)
    lower = np.asarray(reparam.lower, dtype=np.float64)
    upper = np.asarray(reparam.upper, dtype=np.float64)
    n_free = lower.shape[0]
    n_points = data.n_points

    if cfg.strategy == "auto":
        strategy, strategy_info = select_strategy(
            n_points, n_free, memory_fraction_value=cfg.memory_fraction
        )
    else:
        strategy, strategy_info = cfg.strategy, {"forced": True}
        strategy_info.update(
            select_strategy(n_points, n_free, memory_fraction_value=cfg.memory_fraction)[1]
        )
    chunk_pairs = chunk_pairs_for(n, cfg.chunk_points)
    streaming = strategy == "hybrid_streaming"
    progress = callback if strategy == "out_of_core" or callback is not None else None
    tolerances = dict(ftol=cfg.ftol, xtol=cfg.xtol, gtol=cfg.gtol)
    mesh = None
    settings, unknown_streaming = streaming_settings(cfg.section("hybrid_streaming"))
    if unknown_streaming:
        notes.append("config keys not used by xpcsfit (ignored): " + ", ".join(unknown_streaming))
    if streaming:  # data stay on the host; nothing of full size goes to the device
        host = HostData.from_arrays(data.g2, data.sigma, np.asarray(data.t),
                                    np.asarray(data.phi), float(data.q), float(data.L))
        passes = StreamPass(host, cfg.analysis_mode, cfg.convention, settings["chunk_size"])
        objective = StreamObjective(passes, np.asarray(A), np.asarray(b), settings, tolerances,
                                    callback=callback)
    else:
        problem = make_grid_problem(
            data.g2, data.sigma, data.t, data.phi, data.q, data.L,
            mode=cfg.analysis_mode, convention=cfg.convention, chunk_pairs=chunk_pairs,
            chunk_multiple=cfg.n_devices,
        )
        mesh = device_mesh(cfg.n_devices) if cfg.n_devices > 1 else None
        if mesh is not None:
            problem = shard_problem(problem, mesh)
        objective = GridObjective(problem, A, b, dict(tolerances, max_nfev=cfg.max_nfev),
                                  callback=progress, mesh=mesh)

    dcfg = DefenseConfig.from_mapping(cfg.section("anti_degeneracy"))
    defense_active, defense_reason = should_activate(cfg.analysis_mode, n, reparam.mode,
                                                     dcfg.enable)
    if reparam.mode == "varpro":
        defense_active, defense_reason = False, VARPRO_NO_DEFENSE
    defense_layers: dict[str, Any] = {"fourier": {"ran": reparam.mode == "fourier"}}
    if dcfg.unknown_keys:
        notes.append("config keys not used by xpcsfit (ignored): " + ", ".join(dcfg.unknown_keys))

    def solve(start):
        if reparam.mode == "varpro":  # contrast/offset eliminated (fitting/varpro.py)
            return objective.solve_separable(start, lower, upper)
        if defense_active:
            res, layers = defended_solve(
                objective, lower, upper, start, dcfg=dcfg, n_phi=n,
                n_physical=space.n_physical, n_points=n_points,
                phi_index=space.full_names.index("phi0") if "phi0" in space.full_names
                else None)
            defense_layers.update(layers)
            return res
        return objective.solve(start, lower, upper)

    def run(kind: str):
        start = recovery_start(kind, reparam.from_full(x0_full), lower, upper)
        span = np.where(np.isfinite(upper - lower), upper - lower, 1.0)
        start = np.clip(start, lower + 1e-10 * span, upper - 1e-10 * span)
        res = solve(start)
        cost0 = objective.cost(start)
        cost = float(res.cost)
        finite = bool(np.isfinite(cost) and np.all(np.isfinite(np.asarray(res.x))))
        improved = finite and cost < cost0
        at_bound = _at_bound_names(np.asarray(res.active_mask), reparam.names)
        problems = attempt_problems(
            finite=finite, success=bool(res.success), improved=improved or cost0 == cost,
            physical_at_bound=at_bound,
        )
        return res, problems, {"attempt": kind, "cost_start": cost0, "cost": cost,
                               "nfev": int(res.nfev), "status": int(res.status),
                               "problems": problems}

    res, problems, record = run("configured")
    attempts = [(res, problems, record)]
    adapter, fallback = ("fast" if cfg.fast_path else "full"), False
    if problems and cfg.recovery:
        fallback = cfg.fast_path
        adapter = "full"
        for kind in RECOVERY_STARTS[1:]:
            res_k, problems_k, record_k = run(kind)
            attempts.append((res_k, problems_k, record_k))
            if not problems_k:
                break
    finite_attempts = [a for a in attempts if np.isfinite(a[2]["cost"])]
    clean = [a for a in finite_attempts if not a[1]]
    pool = clean or finite_attempts or attempts
    res, problems, record = min(pool, key=lambda a: a[2]["cost"])
    recovery_actions = [a[2] for a in attempts] if len(attempts) > 1 else []

    varpro_info = (varpro_report(res.x, lower, upper, space.full_names, n, notes)
                   if reparam.mode == "varpro" else None)
    cov_z, singular = covariance(res.jtj, res.cost, n_points, res.active_mask)
    symmetric = bool(is_symmetric(np.asarray(data.g2), np.asarray(data.sigma)))
    cov_scale = 2.0 if symmetric else 1.0
    cov_full = cov_scale * np.asarray(reparam.cov_to_full(np.asarray(cov_z)))
    x_full = np.asarray(reparam.to_full(res.x))
    active = np.asarray(res.active_mask)
    n_free_active = int(np.sum(active == 0))
    chi2 = 2.0 * float(res.cost)
    dof = max(n_points - n_free_active, 1)
    red = chi2 / dof
    finite = bool(np.isfinite(chi2) and np.all(np.isfinite(x_full)))
    status = convergence_status(bool(res.success), finite,
                                record["cost"] < record["cost_start"] or bool(res.success))
    if bool(singular):
        notes.append("covariance: JᵀJ singular on the free parameters; pseudo-inverse used")
    for note in notes:
        warnings.warn(note, stacklevel=2)
    device_info = {
        "adapter": adapter,
        "fallback_occurred": fallback,
        "strategy": strategy,
        "strategy_info": strategy_info,
        "recovery_actions": recovery_actions,
        "peak_memory_gb": strategy_info.get("peak_memory_gb"),
        "n_chunks": objective.n_chunks,
        "streaming": objective.report if streaming else {},
        "stratification": {
            **dataclasses.asdict(should_stratify(np.full(n, data.n_t * (data.n_t - 1)),
                                                 per_angle_scaling=reparam.mode != "constant")),
            **({} if streaming else check_grid_chunks(problem.weight, problem.chunk_size)),
            "layout": "pair chunks over all angles (structural stratification)",
        },
        "chunk_points": passes.chunk_points if streaming else problem.chunk_size * n,
        "model_convention": cfg.convention,
        "analysis_mode": cfg.analysis_mode,
        "per_angle_mode": reparam.mode,
        "varpro": varpro_info,
        "n_free_parameters": n_free,
        "defense": {"active": defense_active, "reason": defense_reason,
                    "layers": defense_layers if defense_active else {}},
        "sigma_is_default": bool(data.sigma_is_default),
        "symmetric_data": symmetric,
        "covariance_scale": cov_scale,
        "covariance_singular": bool(singular),
        "backend": jax.default_backend(),
        "n_devices": cfg.n_devices if mesh is not None else 1,
        "device": str(jax.devices()[0]),
        "attempt_problems": problems,
    }
    return OptimizationResult(
        parameters=x_full,
        uncertainties=np.sqrt(np.clip(np.diag(cov_full), 0.0, None)),
        covariance=cov_full,
        chi_squared=chi2,
        reduced_chi_squared=red,
        success=bool(res.success) and finite,
        message=res.message,
        iterations=int(res.njev),
        execution_time=time.perf_counter() - start_time,
        convergence_status=status,
        quality_flag=quality_flag(red, status),
        device_info=device_info,
        parameter_names=tuple(space.full_names),
        n_points=n_points,
        n_free=n_free_active,
        nfev=int(res.nfev),
        initial_parameters=x0_full,
        warnings=tuple(notes),
    )


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
    raw_cfg = config if isinstance(config, Mapping) else None
    if isinstance(data, Mapping):
        data = XPCSData.from_homodyne_dict(data, raw_cfg)
    return fit(data, config, **kwargs)
