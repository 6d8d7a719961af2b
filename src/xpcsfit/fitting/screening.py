"""Global screening: the multi-basin parameters over their whole bounds, before the local fit.

The cost of the homodyne model has several basins in φ0 (the shear factor's dependence on
cos(φ0 − φ)), in γ̇0 (each sidelobe of sinc² is a local minimum) and, less often, in D0.
A local fit finds the basin of its start. So by default the fit first *screens*: on a
stratified subsample of the data (every s-th frame, so every lag and every angle is
present; the model's integrals still run over the full time grid), it evaluates the
*profiled* cost — contrast and offset eliminated exactly per angle, so a poor per-angle
start cannot mislead it — on a grid of φ0 over its bounds × γ̇0 and D0 over decades (steps
of `gamma_dot_decade_step` / `d0_decade_step` in log10) with the other parameters at the
start. The `candidates` best
grid points are refined by local fits on the subsample; the best of those becomes a second
start of the full fit, which runs only when it promises a lower basin than the configured
start reached. Cost: cost-only passes over ~20k points per grid point, a few subsample
fits, and at most one more full fit.
"""

from __future__ import annotations

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..solvers.levenberg import lm_refine
from .grid import GridProblem, make_grid_problem
from .pairs import fitted_pairs
from .structured import grid_profile

AXES = ("phi0", "gamma_dot_t0", "D0")
"""The parameters screened, when free and present in the mode."""


def subsample_index(n_phi: int, n_t: int, points: int) -> np.ndarray | None:
    """Frames of a stratified subsample of about `points` fitted points (every angle, every
    lag range), or None when the data are already that small."""
    if n_phi * n_t * (n_t - 1) <= points:
        return None
    m = max(3, int(math.floor(0.5 + math.sqrt(points / n_phi + 0.25) + 0.5)))
    return np.unique(np.round(np.linspace(0, n_t - 1, min(m, n_t))).astype(np.int32))


def subsample_problem(plan, data) -> GridProblem:
    """The screening subsample as an in-memory problem (from host data, only its frames are
    read), holding the pairs of the full fit's layout (`plan.pairs`: t1 < t2 only for
    symmetric data, so its costs are those of independent points, as `basin_margin`
    assumes)."""
    index = subsample_index(plan.n_phi, plan.n_t, plan.screening.subsample_points)
    if index is None:
        index = np.arange(plan.n_t)
    return make_grid_problem(data.g2, data.sigma, data.t, data.phi, data.q, data.L,
                             mode=plan.mode, convention=plan.convention, index=index,
                             pairs=plan.pairs)


def grid_axes(plan) -> list[tuple[int, np.ndarray]]:
    """(index in the physical vector, grid values) of each screened parameter."""
    space, held, sc = plan.space, set(plan.fixed), plan.screening
    lower = dict(zip(space.physical_names, space.physical_lower, strict=True))
    upper = dict(zip(space.physical_names, space.physical_upper, strict=True))
    axes = []
    for name in AXES:
        if name not in space.physical_names or name in held:
            continue
        lo, hi = lower[name], upper[name]
        if name == "phi0":
            values = np.linspace(lo, hi, sc.phi0_points)
        elif lo > 0:
            step = sc.gamma_dot_decade_step if name == "gamma_dot_t0" else sc.d0_decade_step
            exps = np.arange(math.log10(lo), math.log10(hi) + 1e-9, step)
            values = 10.0 ** np.clip(exps, math.log10(lo), math.log10(hi))
        else:
            values = np.linspace(lo, hi, 7)
        inside = 1e-6 * (hi - lo)
        axes.append((space.physical_names.index(name), np.clip(values, lo + inside, hi - inside)))
    return axes


def candidates(plan, physical0: Float[Array, " p"]) -> Float[Array, "m p"]:
    """The start (row 0), then every point of the product grid of `grid_axes` with the
    other parameters at the start."""
    axes = grid_axes(plan)
    if not axes:
        return physical0[None, :]
    grid = np.array(list(itertools.product(*[values for _, values in axes])))
    cols = np.array([i for i, _ in axes])
    rest = jnp.tile(physical0, (grid.shape[0], 1)).at[:, cols].set(jnp.asarray(grid))
    return jnp.concatenate([physical0[None, :], rest])


def profiled_costs(sub: GridProblem, thetas: Float[Array, "m p"]) -> Float[Array, " m"]:
    """The profiled cost (per-angle values eliminated) of every candidate. A sequential
    `lax.map`: one pass per candidate is already vectorised over the points, and a single
    loop body compiles several times faster than a batched (vmapped) one."""
    return jax.lax.map(lambda th: grid_profile(th, sub)[0], thetas)


class ScreenReport(eqx.Module):
    """What screening found (arrays): grid size, the refined candidates' starts and costs,
    and the best one's subsample cost and search-coordinate start."""

    n_grid: int = eqx.field(static=True)
    subsample_points: int = eqx.field(static=True)
    start_cost: Float[Array, ""]
    best_grid_costs: Float[Array, " k"]
    refined_costs: Float[Array, " k"]
    refined_physical: Float[Array, "k p"]
    best_cost: Float[Array, ""]
    best_start: Float[Array, " z"]


def screen(search, data, traced: bool):
    """Screen the grid on the subsample and refine the best points there (a fixed number of
    bounded Levenberg–Marquardt steps on the profiled cost, all candidates at once); returns
    the `ScreenReport` and the subsample objective (for the run's later comparisons)."""
    from .objectives import Affine, InMemory, Separable

    plan, rep = search.plan, search.rep
    sub = InMemory(subsample_problem(plan, data))
    if traced:
        sub = jax.tree.map(jax.lax.stop_gradient, sub)
    cands = candidates(plan, search.theta(search.z0))
    costs = profiled_costs(sub.problem, cands)
    k = min(plan.screening.candidates, cands.shape[0])
    _, best = jax.lax.top_k(-jnp.where(jnp.isfinite(costs), costs, jnp.inf), k)
    n2, kp = 2 * plan.n_phi, rep.n_physical_free
    a_phys, b_phys = rep.A[n2:, rep.A.shape[1] - kp:], rep.b[n2:]
    lower, upper = rep.lower[-kp:], rep.upper[-kp:]
    profiled = Affine(Separable(sub, jnp.concatenate([jnp.ones(plan.n_phi),
                                                      jnp.zeros(plan.n_phi)]), n2),
                      a_phys, b_phys)
    free = jnp.linalg.lstsq(a_phys, (cands[best] - b_phys[None, :]).T)[0].T

    def refine(z):
        return lm_refine(profiled.sums, jnp.clip(z, lower, upper), lower, upper,
                         iterations=REFINE_ITERATIONS)

    z_ref, _ = jax.lax.map(refine, free)
    thetas = z_ref @ a_phys.T + b_phys[None, :]
    prof, c, o = jax.lax.map(sub.profile, thetas)
    prof = jnp.where(jnp.isfinite(prof), prof, jnp.inf)
    j = jnp.argmin(prof)
    (_, c_lo, c_hi), (_, o_lo, o_hi) = plan.space.contrast_bounds, plan.space.offset_bounds
    start = search.start_at(jnp.concatenate([jnp.clip(c[j], c_lo, c_hi),
                                             jnp.clip(o[j], o_lo, o_hi), thetas[j]]))
    m = int(sub.problem.index.shape[0])
    return ScreenReport(n_grid=int(cands.shape[0]),
                        subsample_points=plan.n_phi * fitted_pairs(m, plan.pairs),
                        start_cost=costs[0], best_grid_costs=costs[best], refined_costs=prof,
                        refined_physical=thetas, best_cost=prof[j], best_start=start), sub


REFINE_ITERATIONS = 15
"""LM steps per screened candidate: enough to settle into its basin (the exact fit follows)."""
