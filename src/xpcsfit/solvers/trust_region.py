"""Bounded trust-region reflective least squares on the Gram matrix (scipy 'trf' semantics).

Minimises ½‖r(x)‖² subject to lower ≤ x ≤ upper using only ``evaluate(x) -> (cost, JᵀJ,
Jᵀr)``, so the same code serves a dense Jacobian, a chunked accumulation and a host-
streamed pass. The method is the Coleman–Li trust-region reflective algorithm of
scipy.optimize.least_squares(method="trf"): Coleman–Li scaling by the distance to the
bounds, a trust-region subproblem on the scaled, augmented system, and a choice between
the truncated, reflected and scaled-gradient steps by predicted reduction. scipy solves the
subproblem with an SVD of the augmented Jacobian; here the eigendecomposition of its Gram
matrix gives the same singular values and right vectors, and the only projection scipy
needs, sᵢ·(Uᵀf)ᵢ = (Vᵀ·J_hᵀf)ᵢ, needs no left vectors. (DESIGN §4 speaks of a Cholesky with
a retry: the symmetric eigensolver is that retry made permanent; it never fails on a
singular JᵀJ, whose zero directions are simply treated as rank deficiency.)

One `evaluate` per loop iteration at the trial point; a rejected or non-finite trial
shrinks the radius. An iteration is two pure functions of an `equinox.Module` state whose
shapes are fixed: `tr_propose` (the trial point) and `tr_update` (accept/reject, radius,
tests). `trust_region_solve` runs them in one `lax.while_loop` (compiled once per shape,
vmappable); `trust_region_solve_host` runs the same two functions from a host loop, for
sums that a host process forms (streamed data), without recompiling for new data.

An optional *observer* watches the iterations without changing them: an object with
``init() -> carry`` and ``update(carry, info) -> carry`` (pure JAX; `info` is an
`Observation`); its final carry is returned in `SolverResult.observed`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float, Int

from .bounds import active_constraints, cl_scaling, strictly_feasible
from .tr_step import select_step, trust_region_step

NOT_FINITE_AT_START = -3
MESSAGES = {
    NOT_FINITE_AT_START: "The residuals or their Jacobian are not finite at the starting "
                         "point x0; nothing was solved.",
    -1: "Improper input parameters status returned from the solver.",
    0: "The maximum number of function evaluations is exceeded.",
    1: "`gtol` termination condition is satisfied.",
    2: "`ftol` termination condition is satisfied.",
    3: "`xtol` termination condition is satisfied.",
    4: "Both `ftol` and `xtol` termination conditions are satisfied.",
}


class SolverResult(eqx.Module):
    """Result of `trust_region_solve`; status codes as scipy.optimize.least_squares, plus
    −3 (`NOT_FINITE_AT_START`): the residuals are not finite at x0, so no step was tried."""

    x: Float[Array, " n"]
    cost: Float[Array, ""]
    grad: Float[Array, " n"]
    jtj: Float[Array, "n n"]
    nfev: Int[Array, ""]
    njev: Int[Array, ""]
    status: Int[Array, ""]
    success: Bool[Array, ""]
    active_mask: Int[Array, " n"]
    observed: Any = None

    @property
    def message(self) -> str:
        """Human-readable termination reason (host side)."""
        return MESSAGES.get(int(self.status), f"unknown status {int(self.status)}")


class Observation(eqx.Module):
    """What an observer sees after each iteration (at the accepted point)."""

    iteration: Int[Array, ""]
    accepted: Bool[Array, ""]
    x: Float[Array, " n"]
    cost: Float[Array, ""]
    grad: Float[Array, " n"]


class TrustRegionState(eqx.Module):
    x: Array
    cost: Array
    jtj: Array
    g: Array
    scale_inv: Array
    delta: Array
    alpha: Array
    nfev: Array
    njev: Array
    status: Array  # -2 running, else the final status (see SolverResult)
    step_norm: Array
    iteration: Array
    observed: Any


class Proposal(eqx.Module):
    """A trial point and what the update needs of the step that produced it."""

    x: Array
    step_norm: Array
    step_h_norm: Array
    predicted: Array
    alpha: Array


class Options(eqx.Module):
    """Static solver settings (hashable: part of the compiled function's key)."""

    ftol: float = eqx.field(static=True)
    xtol: float = eqx.field(static=True)
    gtol: float = eqx.field(static=True)
    max_nfev: int = eqx.field(static=True)
    rows: float = eqx.field(static=True)
    jac_scale: bool = eqx.field(static=True)


# ---------------------------------------------------------------- search


def update_radius(delta, actual, predicted, step_norm, bound_hit):
    """scipy's update_tr_radius, written without division on the accept path."""
    ratio = jnp.where(predicted > 0, actual / jnp.where(predicted > 0, predicted, 1.0),
                      jnp.where((predicted == 0) & (actual == 0), 1.0, 0.0))
    new = jnp.where(ratio < 0.25, 0.25 * step_norm,
                    jnp.where((ratio > 0.75) & bound_hit, 2.0 * delta, delta))
    return new, ratio


def termination(actual, cost, step_norm, x_norm, ratio, ftol, xtol):
    """0 = continue, else scipy status 2 (ftol), 3 (xtol) or 4 (both)."""
    f_ok = (actual < ftol * cost) & (ratio > 0.25)
    x_ok = step_norm < xtol * (xtol + x_norm)
    return jnp.where(f_ok & x_ok, 4, jnp.where(f_ok, 2, jnp.where(x_ok, 3, 0)))


# ---------------------------------------------------------------- iteration


def _finite(cost, jtj, g):
    return jnp.isfinite(cost) & jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(jtj))


def tr_init(x, sums, lower, upper, scale_inv, opt: Options, observer=None) -> TrustRegionState:
    """The state at the (strictly feasible) start x with its sums (cost, JᵀJ, Jᵀr).
    `scale_inv` is the inverse x_scale (None: from the column norms of J, x_scale='jac')."""
    cost, jtj, g = sums
    if scale_inv is None:
        col = jnp.sqrt(jnp.maximum(jnp.diag(jtj), 0.0))
        scale_inv = jnp.where(col > 0, col, 1.0)
    v, dv = cl_scaling(x, g, lower, upper)
    v = jnp.where(dv != 0, v * scale_inv, v)  # scipy's initial-radius rule
    delta = jnp.linalg.norm(x * scale_inv / jnp.sqrt(v))
    delta = jnp.where(delta > 0, delta, 1.0)
    g_norm = jnp.max(jnp.abs(g * cl_scaling(x, g, lower, upper)[0]))
    status = jnp.where(g_norm < opt.gtol, 1, jnp.where(opt.max_nfev <= 1, 0, -2))
    status = jnp.where(_finite(cost, jtj, g), status, NOT_FINITE_AT_START)
    return TrustRegionState(
        x=x, cost=cost, jtj=jtj, g=g, scale_inv=scale_inv, delta=delta,
        alpha=jnp.asarray(0.0), nfev=jnp.asarray(1), njev=jnp.asarray(1), status=status,
        step_norm=jnp.asarray(0.0), iteration=jnp.asarray(0),
        observed=None if observer is None else observer.init())


def tr_propose(st: TrustRegionState, lower, upper, opt: Options) -> Proposal:
    """The trial point of one iteration (Coleman–Li scaled trust-region step)."""
    v, dv = cl_scaling(st.x, st.g, lower, upper)
    scale = 1.0 / st.scale_inv
    g_norm = jnp.max(jnp.abs(st.g * v))
    v = jnp.where(dv != 0, v * st.scale_inv, v)  # Coleman–Li in x_scale'd variables
    d = jnp.sqrt(v) * scale
    diag_h = st.g * dv * scale
    g_h = d * st.g
    hess_h = d[:, None] * st.jtj * d[None, :]
    theta = jnp.maximum(0.995, 1.0 - g_norm)
    p_h, alpha = trust_region_step(hess_h + jnp.diag(diag_h), g_h, st.delta, st.alpha, opt.rows)
    p = d * p_h
    step, step_h, predicted = select_step(st.x, hess_h, diag_h, g_h, p, p_h, d, st.delta,
                                          lower, upper, theta)
    x_new = strictly_feasible(st.x + step, lower, upper, 0)
    return Proposal(x=x_new, step_norm=jnp.linalg.norm(step),
                    step_h_norm=jnp.linalg.norm(step_h), predicted=predicted, alpha=alpha)


def tr_update(st: TrustRegionState, prop: Proposal, sums, lower, upper, opt: Options,
              observer=None) -> TrustRegionState:
    """Accept or reject the trial point with its sums; radius, scaling and stopping tests.
    A finished state (status ≠ −2) is returned unchanged (what vmap needs)."""
    cost_new, jtj_new, g_new = sums
    finite = _finite(cost_new, jtj_new, g_new)
    actual = st.cost - cost_new
    delta_new, ratio = update_radius(st.delta, actual, prop.predicted, prop.step_h_norm,
                                     prop.step_h_norm > 0.95 * st.delta)
    term = termination(actual, st.cost, prop.step_norm, jnp.linalg.norm(st.x), ratio,
                       opt.ftol, opt.xtol)
    term = jnp.where(finite, term, 0)
    accept = finite & (actual > 0)
    delta_next = jnp.where(finite, jnp.where(term > 0, st.delta, delta_new),
                           0.25 * prop.step_h_norm)
    alpha_next = jnp.where(finite & (term == 0),
                           prop.alpha * st.delta / jnp.where(delta_new > 0, delta_new, 1.0),
                           prop.alpha)
    x_acc = jnp.where(accept, prop.x, st.x)
    g_acc = jnp.where(accept, g_new, st.g)
    jtj_acc = jnp.where(accept, jtj_new, st.jtj)
    cost_acc = jnp.where(accept, cost_new, st.cost)
    if opt.jac_scale:
        col = jnp.sqrt(jnp.maximum(jnp.diag(jtj_acc), 0.0))
        scale_inv = jnp.where(accept, jnp.maximum(st.scale_inv, col), st.scale_inv)
    else:
        scale_inv = st.scale_inv
    nfev = st.nfev + 1
    v_acc, _ = cl_scaling(x_acc, g_acc, lower, upper)
    g_stop = accept & (jnp.max(jnp.abs(g_acc * v_acc)) < opt.gtol)
    # scipy tests gtol at the top of its next iteration, so gtol wins over ftol/xtol.
    status = jnp.where(g_stop, 1,
                       jnp.where(term > 0, term, jnp.where(nfev >= opt.max_nfev, 0, -2)))
    observed = st.observed
    if observer is not None:
        observed = observer.update(st.observed, Observation(
            iteration=st.iteration, accepted=accept, x=x_acc, cost=cost_acc, grad=g_acc))
    new = TrustRegionState(
        x=x_acc, cost=cost_acc, jtj=jtj_acc, g=g_acc, scale_inv=scale_inv, delta=delta_next,
        alpha=alpha_next, nfev=nfev, njev=st.njev + accept.astype(st.njev.dtype),
        status=status, step_norm=jnp.where(accept, prop.step_norm, 0.0),
        iteration=st.iteration + 1, observed=observed)
    done = st.status != -2  # freeze finished members (matters under vmap)
    return jax.tree.map(lambda old, nw: jnp.where(done, old, nw), st, new)


def tr_result(st: TrustRegionState, lower, upper, opt: Options) -> SolverResult:
    return SolverResult(
        x=st.x, cost=st.cost, grad=st.g, jtj=st.jtj, nfev=st.nfev, njev=st.njev,
        status=st.status, success=st.status > 0,
        active_mask=active_constraints(st.x, lower, upper, opt.xtol), observed=st.observed)


# ---------------------------------------------------------------- drivers


def _check_inputs(x0, lower, upper, tolerances: dict[str, Any]):
    """Host-side checks before any broadcasting (values skipped when traced): x0 1-D,
    bounds scalars or of x0's shape, lower < upper, x0 finite and inside, tolerances
    finite and >= 0."""
    x0_shape = tuple(np.shape(x0))
    if len(x0_shape) != 1:
        raise ValueError(f"x0: must be 1-D, got shape {x0_shape}")
    for side, bound in (("lower", lower), ("upper", upper)):
        if tuple(np.shape(bound)) not in ((), x0_shape):
            raise ValueError(f"bounds: {side} bound of shape {tuple(np.shape(bound))} does not "
                             f"match x0 of shape {x0_shape} (give a scalar or one per x0)")
    for name, tol in tolerances.items():
        if isinstance(tol, jax.core.Tracer):
            continue
        try:
            value = float(tol)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a number >= 0, got {tol!r}") from None
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name}: must be finite and >= 0, got {tol!r}")
    values = [np.asarray(v) for v in (x0, lower, upper) if not isinstance(v, jax.core.Tracer)]
    if len(values) < 3:
        return
    x0, lower, upper = values[0], *(np.broadcast_to(v, x0_shape) for v in values[1:])
    if np.any(np.isnan(lower) | np.isnan(upper)):
        i = int(np.argmax(np.isnan(lower) | np.isnan(upper)))
        raise ValueError(f"bounds: NaN bound at index {i}: [{lower[i]!r}, {upper[i]!r}]")
    if np.any(lower >= upper):
        i = int(np.argmax(lower >= upper))
        raise ValueError(f"bounds: lower[{i}] = {lower[i]!r} must be < upper[{i}] = {upper[i]!r}")
    if not np.all(np.isfinite(x0)):
        i = int(np.argmax(~np.isfinite(x0)))
        raise ValueError(f"x0: must be finite, got x0[{i}] = {x0[i]!r}")
    if np.any((x0 < lower) | (x0 > upper)):
        i = int(np.argmax((x0 < lower) | (x0 > upper)))
        raise ValueError(f"x0: x0[{i}] = {x0[i]!r} is outside [{lower[i]!r}, {upper[i]!r}]")


def _setup(x0, lower, upper, ftol, xtol, gtol, max_nfev, x_scale, n_rows):
    _check_inputs(x0, lower, upper, {"ftol": ftol, "xtol": xtol, "gtol": gtol})
    x0 = jnp.asarray(x0, dtype=jnp.float64)
    n = x0.shape[0]
    lower = jnp.broadcast_to(jnp.asarray(lower, dtype=jnp.float64), (n,))
    upper = jnp.broadcast_to(jnp.asarray(upper, dtype=jnp.float64), (n,))
    max_nfev = 100 * n if max_nfev is None else max_nfev
    if isinstance(max_nfev, bool) or int(max_nfev) != max_nfev or int(max_nfev) < 1:
        raise ValueError(f"max_nfev: must be an integer >= 1, got {max_nfev!r}")
    jac_scale = isinstance(x_scale, str)
    if jac_scale and x_scale != "jac":
        raise ValueError(f"x_scale: expected 'jac' or an array, got {x_scale!r}")
    scale_inv = None if jac_scale else 1.0 / jnp.broadcast_to(
        jnp.asarray(x_scale, dtype=jnp.float64), (n,))
    opt = Options(ftol=float(ftol), xtol=float(xtol), gtol=float(gtol),
                  max_nfev=int(max_nfev), rows=float(n_rows if n_rows is not None else 2 * n),
                  jac_scale=jac_scale)
    x = strictly_feasible(x0, lower, upper, 1e-10)
    return x, lower, upper, scale_inv, opt


def trust_region_solve(
    evaluate: Callable[..., tuple[Any, Any, Any]],
    x0: Float[Array, " n"],
    lower: Float[Array, " n"],
    upper: Float[Array, " n"],
    *,
    args: tuple = (),
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
    max_nfev: int | None = None,
    x_scale: str | Any = "jac",
    callback: Callable | None = None,
    n_rows: int | None = None,
    observer: Any = None,
) -> SolverResult:
    """Bounded trust-region reflective minimisation of ½‖r‖² from Gram sums.

    **Arguments:**
    - `evaluate`: ``evaluate(x, *args) -> (cost, JᵀJ, Jᵀr)`` with cost = ½‖r(x)‖².
    - `x0`: start (n,), inside the bounds (a point on a bound is moved just inside).
    - `lower`, `upper`: bounds (n,), ±inf allowed per component.
    - `ftol`, `xtol`, `gtol`: scipy's tolerances (≥ 0); `max_nfev`: evaluation budget
      (default 100·n, counting the first evaluation).
    - `x_scale`: "jac" (inverse column norms of J, non-decreasing) or an array (n,).
    - `callback`: optional host function ``f(iteration, cost, step_norm, radius)``.
    - `n_rows`: number of residuals if known (sets the rank cut-off eps·rows·s_max).
    - `observer`: optional watcher of the iterations (module docstring).

    **Returns:** a `SolverResult` (status −3: the sums at the start are not finite).
    """
    x, lower, upper, scale_inv, opt = _setup(x0, lower, upper, ftol, xtol, gtol, max_nfev,
                                             x_scale, n_rows)
    state = tr_init(x, evaluate(x, *args), lower, upper, scale_inv, opt, observer)

    def body(st: TrustRegionState) -> TrustRegionState:
        prop = tr_propose(st, lower, upper, opt)
        new = tr_update(st, prop, evaluate(prop.x, *args), lower, upper, opt, observer)
        if callback is not None:
            jax.debug.callback(callback, st.iteration, new.cost, new.step_norm, new.delta)
        return new

    final = lax.while_loop(lambda st: st.status == -2, body, state)
    return tr_result(final, lower, upper, opt)


_init_jit = eqx.filter_jit(tr_init)
_propose_jit = eqx.filter_jit(tr_propose)
_update_jit = eqx.filter_jit(tr_update)
_result_jit = eqx.filter_jit(tr_result)


def trust_region_solve_host(
    host_evaluate: Callable[[np.ndarray], tuple[Any, Any, Any]],
    x0: Float[Array, " n"],
    lower: Float[Array, " n"],
    upper: Float[Array, " n"],
    *,
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
    max_nfev: int | None = None,
    x_scale: str | Any = "jac",
    callback: Callable | None = None,
    n_rows: int | None = None,
    observer: Any = None,
) -> SolverResult:
    """`trust_region_solve` driven from a host loop: ``host_evaluate(x)`` (x a NumPy
    array) forms the sums on the host, e.g. by streaming data that are not on the device.
    Same iterates as `trust_region_solve`; the step functions compile once per shape."""
    x, lower, upper, scale_inv, opt = _setup(x0, lower, upper, ftol, xtol, gtol, max_nfev,
                                             x_scale, n_rows)

    def sums(point):
        return tuple(jnp.asarray(s, dtype=jnp.float64) for s in host_evaluate(np.asarray(point)))

    state = _init_jit(x, sums(x), lower, upper, scale_inv, opt, observer)
    while int(state.status) == -2:
        prop = _propose_jit(state, lower, upper, opt)
        new = _update_jit(state, prop, sums(prop.x), lower, upper, opt, observer)
        if callback is not None:
            callback(int(state.iteration), float(new.cost), float(new.step_norm),
                     float(new.delta))
        state = new
    return _result_jit(state, lower, upper, opt)
