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
from .defense import SearchSpec, defended_solve
from .multistart import candidate_starts
from .objectives import Affine, Separable
from .plan import FitPlan
from .recovery import attempt_problems, inside, recovery_start
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
    plain objective's sums there), the full-layout x, and the logs."""

    result: SolverResult
    x: Float[Array, " n"]
    A: Float[Array, "n k"]
    attempts: AttemptLog
    defense: dict[str, Any]
    symmetric: Bool[Array, ""]
    x0: Float[Array, " n"]
    streaming: dict[str, Any]
    lower: Float[Array, " m"]
    upper: Float[Array, " m"]


def run(plan: FitPlan, data, init=None, callback: Callable | None = None) -> Outcome:
    """Fit `data` as `plan` says (see the module docstring)."""
    traced = not plan.streamed
    loop = functools.partial(solving.while_loop, traced=traced)
    full = full_objective(plan, data)
    search_full = jax.tree.map(jax.lax.stop_gradient, full) if traced else full
    x0 = start_vector(plan, data, init)
    n2 = 2 * plan.n_phi
    rep = plan.reparam(data.phi, x0[: plan.n_phi], x0[plan.n_phi : n2])
    w0 = rep.from_full(x0)
    if plan.separable:  # search over the (free) physical coordinates only
        lower, upper, z0 = rep.lower[n2:], rep.upper[n2:], w0[n2:]
        a_search = rep.A[n2:, n2:]
    else:
        lower, upper, z0, a_search = rep.lower, rep.upper, w0, rep.A
    sol = plan.solver
    max_nfev = sol.max_nfev
    if plan.streamed:
        max_nfev = min(max_nfev or plan.streaming.gauss_newton_iterations,
                       plan.streaming.gauss_newton_iterations)
    solve = functools.partial(
        solving.solve, ftol=sol.ftol, xtol=sol.xtol, gtol=sol.gtol,
        x_scale=solving.z_scale(plan.x_scale, a_search),
        callback=callback if callback is not None and not plan.multistart.enable else None)

    streaming: dict[str, Any] = {}
    if plan.streamed and plan.streaming.enable_warmup and not plan.separable:
        z0, streaming["warmup"] = normalised_warmup(Affine(search_full, rep.A, rep.b), lower,
                                                    upper, z0, plan.streaming, callback)

    def solve_kw(objective, z, lo, hi, **kw):
        return solve(objective, z, lo, hi, **{"max_nfev": max_nfev, **kw})

    if plan.separable:
        searched = Affine(Separable(search_full, w0[:n2], n2), a_search, rep.b[n2:])
    else:
        searched = Affine(search_full, rep.A, rep.b)

    def start_cost(z):
        return searched.cost(inside(z, lower, upper))

    def attempt(z_start):
        z_start = inside(z_start, lower, upper)
        cost0 = searched.cost(z_start)
        if plan.defense_active:
            res, spec, report = defended_solve(plan, search_full, rep, z_start, lower, upper,
                                               solve=solve_kw, loop=loop, cond=solving.cond)
        else:
            res, spec, report = solve_kw(searched, z_start, lower, upper), SearchSpec(), {}
        return res, spec, report, cost0

    if plan.multistart.enable:
        starts = candidate_starts(plan, z0, lower, upper, rep.n_physical_free)
        best, spec, report, log = _explore(attempt, start_cost, starts, plan,
                                           rep.n_physical_free, traced)
    else:
        starts = jnp.stack([recovery_start(kind, z0, lower, upper) for kind in plan.recovery])
        best, spec, report, log = _attempts(attempt, starts, rep.n_physical_free, loop, traced)
    if plan.separable:
        theta = a_search @ best.x + rep.b[n2:]
        w = jnp.concatenate([Separable(search_full, w0[:n2], n2).expand(theta)[:n2], best.x])
        active = jnp.concatenate([jnp.zeros(n2, dtype=best.active_mask.dtype), best.active_mask])
        best = eqx.tree_at(lambda r: (r.x, r.active_mask), best, (w, active))
    final = spec.objective(full, rep, plan.n_points, plan.n_phi)
    if traced:  # ∂(answer)/∂(data) by the implicit function theorem at the answer
        best = implicit_argmin(lambda a: a[1], lambda w, a: a[0].sums(w)[2],
                               (final, jax.lax.stop_gradient(best)))
    if plan.separable or spec.weights is not None or spec.lam is not None:
        cost, jtj, grad = Affine(full, rep.A, rep.b).sums(best.x)
        best = eqx.tree_at(lambda r: (r.cost, r.jtj, r.grad), best,
                           (jnp.asarray(cost), jnp.asarray(jtj), jnp.asarray(grad)))
    xp = jnp if traced else np
    return Outcome(result=best, x=rep.to_full(best.x), A=rep.A, attempts=log, defense=report,
                   symmetric=jnp.asarray(is_symmetric(data.g2, data.sigma, xp)), x0=x0,
                   streaming=streaming, lower=jnp.asarray(lower), upper=jnp.asarray(upper))


def _row(out, n_physical_free):
    """(cost with non-finite → inf, problem flags) of one attempt's output."""
    res, _, _, cost0 = out
    flags = attempt_problems(res.cost, res.x, res.success, cost0, res.active_mask,
                             n_physical_free)
    finite = jnp.isfinite(res.cost) & jnp.all(jnp.isfinite(res.x))
    return jnp.where(finite, res.cost, jnp.inf), flags


def _attempts(attempt: Callable, starts, n_physical_free: int, loop: Callable, traced: bool):
    """Run attempts from `starts` in order until one has no problem; keep the lowest finite
    cost (the recovery policy). One compiled attempt serves every start."""
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
        return i + 1, record(carry, i, attempt(starts[i]))

    def more(state):
        i, (_, _, _, log) = state
        clean = log.ran & ~jnp.any(log.problems, axis=1)
        return (i < k) & ~jnp.any(clean)

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
