"""The run of a fit: attempts from the planned starts, each a (defended) solve; the best
one; then the answer made differentiable and re-evaluated on the plain objective.

`run` is one function for every strategy and every way of calling `fit`: inside the
fit's compiled pipeline (in-memory data, also under the caller's jit / vmap / grad) its
control flow is `lax`; for streamed data it runs on the host with the same code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ..data import is_symmetric
from ..solvers.implicit import implicit_argmin
from ..solvers.trust_region import SolverResult
from . import solve as solving
from .build import full_objective, start_vector
from .checks import Checks, at_bound
from .multistart import candidate_starts
from .objectives import Affine
from .plan import FitPlan
from .recovery import attempt_problems, inside, recovery_start
from .screening import ScreenReport, screen
from .search import Search
from .warmup import normalised_warmup


class AttemptLog(eqx.Module):
    """One row per start tried: which candidate (`index`), whether it ran, its costs,
    evaluations, status, problems and solution (search coordinates)."""

    index: Int[Array, " k"]
    ran: Bool[Array, " k"]
    cost_start: Float[Array, " k"]
    cost: Float[Array, " k"]
    nfev: Int[Array, " k"]
    status: Int[Array, " k"]
    problems: Bool[Array, "k 4"]
    x: Float[Array, "k m"]
    best: Int[Array, ""]


class Outcome(eqx.Module):
    """What `run` returns: the solution in the free coordinates w of x = A w + b (with the
    plain objective's sums there), the full-layout x, and the logs and checks.
    `duplicated`: every independent value was fitted twice (exactly symmetric data with
    all pairs: traced, or the internal switch `plan.UPPER_PAIRS` off), so the covariance and
    χ² tests need the factor 2."""

    result: SolverResult
    raw_cost: Float[Array, ""]
    x: Float[Array, " n"]
    A: Float[Array, "n k"]
    attempts: AttemptLog
    defense: dict[str, Any]
    duplicated: Bool[Array, ""]
    x0: Float[Array, " n"]
    streaming: dict[str, Any]
    lower: Float[Array, " m"]
    upper: Float[Array, " m"]
    checks: Checks
    screening: ScreenReport | None = None


def run(plan: FitPlan, data, values, init=None, callback: Callable | None = None) -> Outcome:
    """Fit `data` as `plan` says, from the start and fixed `values` (`StartValues`)."""
    traced = not plan.streamed
    duplicated = plan.duplicated
    if duplicated is None:  # traced data: decided on the values, same shapes either way
        duplicated = is_symmetric(data.g2, data.sigma, jnp)
    once = jnp.where(duplicated, 0.5, 1.0)  # subsample costs per independent point
    full = full_objective(plan, data)
    x0 = start_vector(plan, data, values, init)
    n = plan.n_phi
    rep = plan.reparam(data.phi, x0[:n], x0[n : 2 * n], values.fixed)
    search_full = jax.tree.map(jax.lax.stop_gradient, full) if traced else full
    search = Search.create(plan, rep, search_full, rep.from_full(x0), traced, callback)
    z0, streaming = search.z0, {}
    if plan.streamed and plan.streaming.enable_warmup and not plan.separable:
        z0, streaming["warmup"] = normalised_warmup(search.searched(), search.lower,
                                                    search.upper, z0, plan.streaming, callback)
    k_phys = rep.n_physical_free
    screened, sub = None, None
    if plan.multistart.enable:
        starts = candidate_starts(plan, z0, search.lower, search.upper, k_phys)
        best, spec, report, log = _explore(
            search.attempt, lambda z: search.searched().cost(inside(z, search.lower,
                                                                    search.upper)),
            starts, plan, k_phys, traced)
    else:
        kinds = [recovery_start(kind, z0, search.lower, search.upper) for kind in plan.recovery]
        wanted = _recovery_rule(1)
        if plan.screening_active:
            screened, sub = screen(search, data, traced)
            kinds.insert(1, screened.best_start)
            wanted = _screened_rule(search, sub, screened, k_phys, once)
        best, spec, report, log = _attempts(search.attempt, jnp.stack(kinds), k_phys,
                                            search.loop, traced, wanted)
    best = search.expand(best)
    final = spec.objective(full, rep, plan.n_points, plan.n_phi)
    if traced:  # ∂(answer)/∂(data) by the implicit function theorem at the answer
        best = implicit_argmin(lambda a: a[1], lambda w, a: a[0].sums(w)[2],
                               (final, jax.lax.stop_gradient(best)))
    plain = Affine(full, rep.A, rep.b)
    if plan.separable or spec.weights is not None or spec.lam is not None:
        cost, jtj, grad = plain.sums(best.x)
        best = eqx.tree_at(lambda r: (r.cost, r.jtj, r.grad), best,
                           (jnp.asarray(cost), jnp.asarray(jtj), jnp.asarray(grad)))
    linear = full if plan.solver.loss == "linear" else full.with_loss("linear")
    raw = best.cost if linear is full else Affine(linear, rep.A, rep.b).cost(best.x)
    x = rep.to_full(best.x)
    return Outcome(result=best, raw_cost=jnp.asarray(raw), x=x, A=rep.A, attempts=log,
                   defense=report, duplicated=jnp.asarray(duplicated),
                   x0=x0, streaming=streaming, lower=jnp.asarray(search.lower),
                   upper=jnp.asarray(search.upper),
                   checks=_checks(plan, search, linear, x, best, sub, screened, once),
                   screening=screened)


def _recovery_rule(first_recovery: int) -> Callable:
    """Attempt i runs if it is the first, or no attempt so far is clean (recovery)."""

    def wanted(i, log):
        clean = log.ran & ~jnp.any(log.problems, axis=1)
        return (i == 0) | ((i >= first_recovery) & ~jnp.any(clean))

    return wanted


def basin_margin(k_phys: int) -> float:
    """Cost gap on the subsample beyond which two answers are in different basins: the full
    fit's optimum evaluated on the subsample exceeds the subsample's own optimum by
    ½·χ²_p (p free physical parameters; mean p/2, below p/2 + 12 with probability > 0.999
    for p ≤ 7), so a larger gap is not overfit of the subsample but a better basin."""
    return 0.5 * k_phys + 12.0


def _screened_rule(search: Search, sub, screened: ScreenReport, k_phys: int,
                   once) -> Callable:
    """The screened start (attempt 1) runs when the configured fit's answer is worse on the
    subsample than the screened optimum by more than `basin_margin` (the gap per independent
    point: × `once` = ½ when every value is held twice); recovery (attempts ≥ 2) as usual."""
    recovery = _recovery_rule(2)

    def wanted(i, log):
        gap = once * (sub.profile(search.theta(log.x[0]))[0] - screened.best_cost)
        return recovery(i, log) | ((i == 1) & (gap > basin_margin(k_phys)))

    return wanted


def _checks(plan, search: Search, linear, x, best, sub, screened, once) -> Checks:
    """The raw numbers of `checks` at the answer x (full layout)."""
    n2, space = 2 * plan.n_phi, plan.space
    held = np.isin(np.asarray(space.physical_names), list(plan.fixed))
    bound = at_bound(x[n2:], np.asarray(space.physical_lower),
                     np.asarray(space.physical_upper), jnp.asarray(~held))
    restricted = plan.per_angle_mode in ("fourier", "averaged", "constant")
    profile = linear.profile(x[n2:])[0] if restricted else jnp.asarray(jnp.nan)
    gap = jnp.asarray(jnp.nan)
    if screened is not None:
        gap = once * (sub.profile(x[n2:])[0] - screened.best_cost)
    lower_basin = gap > basin_margin(search.rep.n_physical_free)
    return Checks(at_bound=bound, profile_cost=jnp.asarray(profile),
                  constant_cost=jnp.asarray(linear.constant_cost()), screen_gap=gap,
                  lower_basin=jnp.asarray(lower_basin))


def _row(out, n_physical_free):
    """(cost with non-finite → inf, problem flags) of one attempt's output."""
    res, _, _, cost0 = out
    flags = attempt_problems(res.cost, res.x, res.success, cost0, res.active_mask,
                             n_physical_free)
    finite = jnp.isfinite(res.cost) & jnp.all(jnp.isfinite(res.x))
    return jnp.where(finite, res.cost, jnp.inf), flags


def _attempts(attempt: Callable, starts, n_physical_free: int, loop: Callable, traced: bool,
              wanted: Callable):
    """Run the attempts from `starts` in order that `wanted(i, log)` asks for; keep the
    lowest finite cost (the recovery policy). One compiled attempt serves every start."""
    k = starts.shape[0]

    def record(carry, i, out):
        best, best_spec, best_report, log = carry
        res, spec, report, cost0 = out
        cost, flags = _row(out, n_physical_free)
        better = (cost < log.cost[log.best]) | ~log.ran[log.best]  # first recorded wins
        log = AttemptLog(log.index, log.ran.at[i].set(True), log.cost_start.at[i].set(cost0),
                         log.cost.at[i].set(cost), log.nfev.at[i].set(res.nfev),
                         log.status.at[i].set(res.status), log.problems.at[i].set(flags),
                         log.x.at[i].set(res.x), jnp.where(better, i, log.best))
        pick = functools.partial(jax.tree.map, lambda new, old: jnp.where(better, new, old))
        return pick(res, best), pick(spec, best_spec), pick(report, best_report), log

    def body(state):
        i, carry = state
        return i + 1, solving.cond(wanted(i, carry[3]),
                                   lambda: record(carry, i, attempt(starts[i])), lambda: carry)

    def more(state):
        return state[0] < k

    empty = AttemptLog(jnp.arange(k), jnp.zeros(k, bool), jnp.full(k, jnp.inf),
                       jnp.full(k, jnp.inf), jnp.zeros(k, jnp.int32), jnp.zeros(k, jnp.int32),
                       jnp.zeros((k, 4), bool), jnp.zeros(starts.shape), jnp.asarray(0))
    if traced:
        shapes = jax.eval_shape(attempt, starts[0])
        template = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes[:3])
        state = (jnp.asarray(0), (*template, empty))
    else:
        first = attempt(starts[0])
        state = (1, record((*first[:3], empty), 0, first))
    _, (best, spec, report, log) = loop(more, body, state)
    return best, spec, report, log


def _explore(attempt: Callable, start_cost: Callable, candidates, plan, n_physical_free: int,
             traced: bool):
    """Run an attempt from every start (multistart; after optional screening by cost) —
    one `vmap` in memory — and keep the lowest finite cost."""
    ms = plan.multistart
    index = jnp.arange(candidates.shape[0])
    if ms.use_screening:
        keep = max(1, int(np.ceil(ms.screen_keep_fraction * candidates.shape[0])))
        costs = (jax.vmap(start_cost)(candidates) if traced
                 else jnp.stack([start_cost(c) for c in candidates]))
        index = jnp.argsort(costs)[:keep]
    starts = candidates[index]
    if traced:
        outs = jax.vmap(attempt)(starts)
    else:
        outs = jax.tree.map(lambda *xs: jnp.stack(xs), *[attempt(s) for s in starts])
    res, spec, report, cost0 = outs
    cost, flags = jax.vmap(lambda *o: _row(o, n_physical_free))(*outs)
    best = jnp.argmin(cost)
    log = AttemptLog(index, jnp.ones(index.shape, bool), cost0, cost, res.nfev, res.status,
                     flags, res.x, best)
    take = functools.partial(jax.tree.map, lambda a: a[best])
    return take(res), take(spec), take(report), log
