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
shrinks the radius. The loop is one `lax.while_loop` over an `equinox.Module` whose shapes
are fixed, so it compiles once per shape and runs under `jax.vmap`.
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

EPS = float(np.finfo(np.float64).eps)
MESSAGES = {
    -1: "Improper input parameters status returned from the solver.",
    0: "The maximum number of function evaluations is exceeded.",
    1: "`gtol` termination condition is satisfied.",
    2: "`ftol` termination condition is satisfied.",
    3: "`xtol` termination condition is satisfied.",
    4: "Both `ftol` and `xtol` termination conditions are satisfied.",
}


class SolverResult(eqx.Module):
    """Result of `trust_region_solve`; status codes as scipy.optimize.least_squares."""

    x: Float[Array, " n"]
    cost: Float[Array, ""]
    grad: Float[Array, " n"]
    jtj: Float[Array, "n n"]
    nfev: Int[Array, ""]
    njev: Int[Array, ""]
    status: Int[Array, ""]
    success: Bool[Array, ""]
    active_mask: Int[Array, " n"]
    monitor_trigger: Int[Array, ""] = None
    monitor_ratio: Float[Array, ""] = None

    @property
    def message(self) -> str:
        """Human-readable termination reason (host side)."""
        return MESSAGES.get(int(self.status), f"unknown status {int(self.status)}")


class _State(eqx.Module):
    x: Array
    cost: Array
    jtj: Array
    g: Array
    scale_inv: Array
    delta: Array
    alpha: Array
    nfev: Array
    njev: Array
    status: Array  # -2 running, else final scipy status
    step_norm: Array
    iteration: Array
    mon_run: Array  # consecutive accepted iterations with a low block-gradient ratio
    mon_trigger: Array  # iteration at which the monitor fired, −1 if never
    mon_ratio: Array


# ---------------------------------------------------------------- bounds helpers


def cl_scaling(x, g, lower, upper):
    """Coleman–Li scaling vector v and its derivative dv (scipy's CL_scaling_vector)."""
    to_upper = (g < 0) & jnp.isfinite(upper)
    to_lower = (g > 0) & jnp.isfinite(lower)
    v = jnp.where(to_upper, upper - x, jnp.where(to_lower, x - lower, 1.0))
    dv = jnp.where(to_upper, -1.0, jnp.where(to_lower, 1.0, 0.0))
    return v, dv


def active_constraints(x, lower, upper, rtol):
    """−1 at the lower bound, +1 at the upper bound, 0 free (scipy's tolerance rule)."""
    lower_dist, upper_dist = x - lower, upper - x
    lower_thr = rtol * jnp.maximum(1.0, jnp.abs(lower))
    upper_thr = rtol * jnp.maximum(1.0, jnp.abs(upper))
    at_lower = jnp.isfinite(lower) & (lower_dist <= jnp.minimum(upper_dist, lower_thr))
    at_upper = jnp.isfinite(upper) & (upper_dist <= jnp.minimum(lower_dist, upper_thr))
    return jnp.where(at_lower, -1, jnp.where(at_upper, 1, 0)).astype(jnp.int32)


def strictly_feasible(x, lower, upper, rstep):
    """Move points on (or beyond) a bound just inside it (scipy's make_strictly_feasible)."""
    if rstep == 0:
        new = jnp.where(x <= lower, jnp.nextafter(lower, upper), x)
        new = jnp.where(x >= upper, jnp.nextafter(upper, lower), new)
    else:
        active = active_constraints(x, lower, upper, rstep)
        new = jnp.where(active == -1, lower + rstep * jnp.maximum(1.0, jnp.abs(lower)), x)
        new = jnp.where(active == 1, upper - rstep * jnp.maximum(1.0, jnp.abs(upper)), new)
    tight = (new < lower) | (new > upper)
    return jnp.where(tight, 0.5 * (lower + upper), new)


def step_to_bound(x, s, lower, upper):
    """Largest t with x + t·s inside the box, and which components hit (±1)."""
    nonzero = s != 0
    s_safe = jnp.where(nonzero, s, 1.0)
    steps = jnp.where(nonzero, jnp.maximum((lower - x) / s_safe, (upper - x) / s_safe), jnp.inf)
    t = jnp.min(steps)
    hits = jnp.where(steps == t, jnp.sign(s), 0.0)
    return t, hits


def intersect_ball(x, s, delta):
    """Both roots t of ‖x + t·s‖ = Δ (negative, positive)."""
    a = jnp.dot(s, s)
    a = jnp.where(a > 0, a, 1.0)
    b = jnp.dot(x, s)
    c = jnp.dot(x, x) - delta**2
    d = jnp.sqrt(jnp.maximum(b * b - a * c, 0.0))
    q = -(b + jnp.where(b >= 0, d, -d))
    q = jnp.where(q == 0, -EPS, q)
    t1, t2 = q / a, c / q
    return jnp.minimum(t1, t2), jnp.maximum(t1, t2)


# ---------------------------------------------------------------- quadratic model


def quadratic(hess, g, s, diag):
    """½·sᵀ(H + diag)s + gᵀs with H = J_hᵀJ_h."""
    return 0.5 * (s @ hess @ s + jnp.dot(s * diag, s)) + jnp.dot(g, s)


def quadratic_1d(hess, g, s, diag, s0):
    """Coefficients of t ↦ q(s0 + t·s) = a t² + b t + c."""
    a = 0.5 * (s @ hess @ s + jnp.dot(s * diag, s))
    b = jnp.dot(g, s) + s0 @ hess @ s + jnp.dot(s0 * diag, s)
    c = 0.5 * (s0 @ hess @ s0 + jnp.dot(s0 * diag, s0)) + jnp.dot(g, s0)
    return a, b, c


def minimize_1d(a, b, c, lo, hi):
    """Minimum of a t² + b t + c over [lo, hi]: (t, value)."""
    ext = -0.5 * b / jnp.where(a != 0, a, 1.0)
    use_ext = (a != 0) & (lo < ext) & (ext < hi)
    ts = jnp.stack([lo, hi, jnp.where(use_ext, ext, lo)])
    ys = ts * (a * ts + b) + c
    k = jnp.argmin(ys)
    return ts[k], ys[k]


# ---------------------------------------------------------------- descent


def trust_region_step(gram_h, g_h, delta, alpha, n_rows):
    """Solve min ‖J_h p + f‖ s.t. ‖p‖ ≤ Δ from the augmented Gram matrix (scipy's
    solve_lsq_trust_region: Newton iterations on the secular equation).

    Returns (p_h, alpha)."""
    lam, vecs = jnp.linalg.eigh(gram_h)
    lam, vecs = lam[::-1], vecs[:, ::-1]  # descending
    s = jnp.sqrt(jnp.maximum(lam, 0.0))
    suf = vecs.T @ g_h  # s·(Uᵀf)
    full_rank = s[-1] > EPS * n_rows * s[0]
    s_safe = jnp.where(s > 0, s, 1.0)
    p_gn = -vecs @ jnp.where(s > 0, suf / (s_safe * s_safe), 0.0)
    gn_inside = full_rank & (jnp.linalg.norm(p_gn) <= delta)

    def phi_and_derivative(a):
        denom = s * s + a
        denom = jnp.where(denom > 0, denom, EPS)
        p_norm = jnp.linalg.norm(suf / denom)
        p_norm_safe = jnp.where(p_norm > 0, p_norm, 1.0)
        return p_norm - delta, -jnp.sum(suf**2 / denom**3) / p_norm_safe

    alpha_upper = jnp.linalg.norm(suf) / delta
    phi0, dphi0 = phi_and_derivative(0.0)
    alpha_lower = jnp.where(full_rank, -phi0 / jnp.where(dphi0 != 0, dphi0, -1.0), 0.0)
    default = jnp.maximum(0.001 * alpha_upper, jnp.sqrt(jnp.maximum(alpha_lower * alpha_upper, 0.0)))
    alpha = jnp.where(~full_rank & (alpha == 0), default, alpha)

    def body(_, carry):
        a, lo, hi, done = carry
        a = jnp.where((a < lo) | (a > hi),
                      jnp.maximum(0.001 * hi, jnp.sqrt(jnp.maximum(lo * hi, 0.0))), a)
        phi, dphi = phi_and_derivative(a)
        hi_new = jnp.where(phi < 0, a, hi)
        ratio = phi / jnp.where(dphi != 0, dphi, -1.0)
        lo_new = jnp.maximum(lo, a - ratio)
        a_new = a - (phi + delta) * ratio / delta
        finished = jnp.abs(phi) < 0.01 * delta
        keep = lambda old, new: jnp.where(done, old, new)  # noqa: E731
        return (keep(a, a_new), keep(lo, lo_new), keep(hi, hi_new), done | finished)

    a, *_ = lax.fori_loop(0, 10, body, (alpha, alpha_lower, alpha_upper, jnp.asarray(False)))
    p = -vecs @ (suf / jnp.maximum(s * s + a, EPS))
    p_norm = jnp.linalg.norm(p)
    p = p * delta / jnp.where(p_norm > 0, p_norm, 1.0)
    return jnp.where(gn_inside, p_gn, p), jnp.where(gn_inside, 0.0, a)


def select_step(x, hess_h, diag_h, g_h, p, p_h, d, delta, lower, upper, theta):
    """Choose among the truncated, reflected and scaled-gradient steps (scipy's select_step).

    Returns (step, step_h, predicted_reduction)."""
    inside = jnp.all((x + p >= lower) & (x + p <= upper))
    full_value = quadratic(hess_h, g_h, p_h, diag_h)

    p_stride, hits = step_to_bound(x, p, lower, upper)
    p_stride = jnp.where(jnp.isfinite(p_stride), p_stride, 1.0)
    r_h = jnp.where(hits != 0, -p_h, p_h)
    r = d * r_h
    pb, pb_h = p * p_stride, p_h * p_stride
    _, to_tr = intersect_ball(pb_h, r_h, delta)
    to_bound, _ = step_to_bound(x + pb, r, lower, upper)
    r_stride = jnp.minimum(to_bound, to_tr)
    r_pos = r_stride > 0
    r_safe = jnp.where(r_pos, r_stride, 1.0)
    r_lo = jnp.where(r_pos, (1 - theta) * p_stride / r_safe, 0.0)
    r_hi = jnp.where(r_pos, jnp.where(r_stride == to_bound, theta * to_bound, to_tr), -1.0)
    a, b, c = quadratic_1d(hess_h, g_h, r_h, diag_h, pb_h)
    r_t, r_value = minimize_1d(a, b, c, r_lo, r_hi)
    ok = r_lo <= r_hi
    r_value = jnp.where(ok, r_value, jnp.inf)
    r_h = r_h * r_t + pb_h
    r = r_h * d

    pt, pt_h = pb * theta, pb_h * theta
    pt_value = quadratic(hess_h, g_h, pt_h, diag_h)

    ag_h = -g_h
    ag = d * ag_h
    ag_norm = jnp.linalg.norm(ag_h)
    to_tr_g = delta / jnp.where(ag_norm > 0, ag_norm, 1.0)
    to_bound_g, _ = step_to_bound(x, ag, lower, upper)
    ag_max = jnp.where(to_bound_g < to_tr_g, theta * to_bound_g, to_tr_g)
    a, b, _ = quadratic_1d(hess_h, g_h, ag_h, diag_h, jnp.zeros_like(ag_h))
    ag_t, ag_value = minimize_1d(a, b, 0.0, 0.0, ag_max)
    ag_h, ag = ag_h * ag_t, ag * ag_t

    use_p = (pt_value < r_value) & (pt_value < ag_value)
    use_r = ~use_p & (r_value < pt_value) & (r_value < ag_value)
    step = jnp.where(use_p, pt, jnp.where(use_r, r, ag))
    step_h = jnp.where(use_p, pt_h, jnp.where(use_r, r_h, ag_h))
    value = jnp.where(use_p, pt_value, jnp.where(use_r, r_value, ag_value))
    step = jnp.where(inside, p, step)
    step_h = jnp.where(inside, p_h, step_h)
    value = jnp.where(inside, full_value, value)
    return step, step_h, -value


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


# ---------------------------------------------------------------- loop


def _check_inputs(x0, lower, upper):
    values = [np.asarray(v) for v in (x0, lower, upper) if not isinstance(v, jax.core.Tracer)]
    if len(values) < 3:
        return
    x0, lower, upper = values
    if x0.ndim != 1:
        raise ValueError(f"x0: must be 1-D, got shape {x0.shape}")
    if lower.shape != x0.shape or upper.shape != x0.shape:
        raise ValueError(f"bounds: shapes {lower.shape}, {upper.shape} do not match x0 {x0.shape}")
    if np.any(lower >= upper):
        i = int(np.argmax(lower >= upper))
        raise ValueError(f"bounds: lower[{i}] = {lower[i]!r} must be < upper[{i}] = {upper[i]!r}")
    if np.any((x0 < lower) | (x0 > upper)):
        i = int(np.argmax((x0 < lower) | (x0 > upper)))
        raise ValueError(f"x0: x0[{i}] = {x0[i]!r} is outside [{lower[i]!r}, {upper[i]!r}]")
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"x0: must be finite, got {x0}")


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
    monitor: tuple[int, float, int] | None = None,
) -> SolverResult:
    """Bounded trust-region reflective minimisation of ½‖r‖² from Gram sums.

    **Arguments:**
    - `evaluate`: ``evaluate(x, *args) -> (cost, JᵀJ, Jᵀr)`` with cost = ½‖r(x)‖².
    - `x0`: start (n,), inside the bounds (a point on a bound is moved just inside).
    - `lower`, `upper`: bounds (n,), ±inf allowed per component.
    - `ftol`, `xtol`, `gtol`: scipy's tolerances; `max_nfev`: evaluation budget
      (default 100·n, counting the first evaluation).
    - `x_scale`: "jac" (inverse column norms of J, non-decreasing) or an array.
    - `callback`: optional host function ``f(iteration, cost, step_norm, radius)``.
    - `n_rows`: number of residuals if known (sets the rank cut-off eps·rows·s_max).
    - `monitor`: optional (split, threshold, patience): track the block-gradient ratio
      ‖g[split:]‖/‖g[:split]‖ at each accepted iteration and record (in
      `monitor_trigger`) the iteration at which it has stayed below `threshold` for
      `patience` consecutive iterations (−1 if never).

    **Returns:** a `SolverResult`.
    """
    x0 = jnp.asarray(x0, dtype=jnp.float64)
    n = x0.shape[0]
    lower = jnp.broadcast_to(jnp.asarray(lower, dtype=jnp.float64), (n,))
    upper = jnp.broadcast_to(jnp.asarray(upper, dtype=jnp.float64), (n,))
    _check_inputs(x0, lower, upper)
    max_nfev = 100 * n if max_nfev is None else int(max_nfev)
    if max_nfev < 1:
        raise ValueError(f"max_nfev: must be >= 1, got {max_nfev!r}")
    rows = float(n_rows if n_rows is not None else 2 * n)
    jac_scale = isinstance(x_scale, str)
    if jac_scale and x_scale != "jac":
        raise ValueError(f"x_scale: expected 'jac' or an array, got {x_scale!r}")
    fixed_scale_inv = None if jac_scale else 1.0 / jnp.broadcast_to(
        jnp.asarray(x_scale, dtype=jnp.float64), (n,))

    x = strictly_feasible(x0, lower, upper, 1e-10)
    cost, jtj, g = evaluate(x, *args)
    col = jnp.sqrt(jnp.maximum(jnp.diag(jtj), 0.0))
    scale_inv = jnp.where(col > 0, col, 1.0) if jac_scale else fixed_scale_inv
    v, dv = cl_scaling(x, g, lower, upper)
    v = jnp.where(dv != 0, v * scale_inv, v)  # scipy's initial-radius rule
    delta = jnp.linalg.norm(x * scale_inv / jnp.sqrt(v))
    delta = jnp.where(delta > 0, delta, 1.0)
    g_norm = jnp.max(jnp.abs(g * cl_scaling(x, g, lower, upper)[0]))
    finite0 = jnp.isfinite(cost) & jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(jtj))
    status0 = jnp.where(g_norm < gtol, 1, jnp.where(max_nfev <= 1, 0, -2))
    status0 = jnp.where(finite0, status0, 0)
    state = _State(x=x, cost=cost, jtj=jtj, g=g, scale_inv=scale_inv, delta=delta,
                   alpha=jnp.asarray(0.0), nfev=jnp.asarray(1), njev=jnp.asarray(1),
                   status=status0, step_norm=jnp.asarray(0.0), iteration=jnp.asarray(0),
                   mon_run=jnp.asarray(0), mon_trigger=jnp.asarray(-1),
                   mon_ratio=jnp.asarray(jnp.nan))

    def body(st: _State) -> _State:
        v, dv = cl_scaling(st.x, st.g, lower, upper)
        scale = 1.0 / st.scale_inv
        g_norm = jnp.max(jnp.abs(st.g * v))
        v = jnp.where(dv != 0, v * st.scale_inv, v)  # Coleman–Li in x_scale'd variables
        d = jnp.sqrt(v) * scale
        diag_h = st.g * dv * scale
        g_h = d * st.g
        hess_h = d[:, None] * st.jtj * d[None, :]
        theta = jnp.maximum(0.995, 1.0 - g_norm)
        p_h, alpha = trust_region_step(hess_h + jnp.diag(diag_h), g_h, st.delta, st.alpha, rows)
        p = d * p_h
        step, step_h, predicted = select_step(st.x, hess_h, diag_h, g_h, p, p_h, d, st.delta,
                                              lower, upper, theta)
        x_new = strictly_feasible(st.x + step, lower, upper, 0)
        cost_new, jtj_new, g_new = evaluate(x_new, *args)
        step_h_norm = jnp.linalg.norm(step_h)
        finite = jnp.isfinite(cost_new) & jnp.all(jnp.isfinite(g_new)) & jnp.all(
            jnp.isfinite(jtj_new))
        actual = st.cost - cost_new
        delta_new, ratio = update_radius(st.delta, actual, predicted, step_h_norm,
                                         step_h_norm > 0.95 * st.delta)
        step_norm = jnp.linalg.norm(step)
        term = termination(actual, st.cost, step_norm, jnp.linalg.norm(st.x), ratio, ftol, xtol)
        term = jnp.where(finite, term, 0)
        accept = finite & (actual > 0)
        delta_next = jnp.where(finite, jnp.where(term > 0, st.delta, delta_new),
                               0.25 * step_h_norm)
        alpha_next = jnp.where(finite & (term == 0),
                               alpha * st.delta / jnp.where(delta_new > 0, delta_new, 1.0), alpha)
        x_acc = jnp.where(accept, x_new, st.x)
        g_acc = jnp.where(accept, g_new, st.g)
        jtj_acc = jnp.where(accept, jtj_new, st.jtj)
        cost_acc = jnp.where(accept, cost_new, st.cost)
        if jac_scale:
            col = jnp.sqrt(jnp.maximum(jnp.diag(jtj_acc), 0.0))
            scale_inv = jnp.where(accept, jnp.maximum(st.scale_inv, col), st.scale_inv)
        else:
            scale_inv = st.scale_inv
        nfev = st.nfev + 1
        v_acc, _ = cl_scaling(x_acc, g_acc, lower, upper)
        g_stop = accept & (jnp.max(jnp.abs(g_acc * v_acc)) < gtol)
        status = jnp.where(term > 0, term, jnp.where(g_stop, 1, jnp.where(nfev >= max_nfev, 0, -2)))
        if monitor is not None:
            split, threshold, patience = monitor
            ratio = jnp.linalg.norm(g_acc[split:]) / jnp.maximum(
                jnp.linalg.norm(g_acc[:split]), 1e-300)
            run = jnp.where(accept, jnp.where(ratio < threshold, st.mon_run + 1, 0), st.mon_run)
            trigger = jnp.where((st.mon_trigger < 0) & (run >= patience), st.iteration,
                                st.mon_trigger)
            ratio = jnp.where(accept, ratio, st.mon_ratio)
        else:
            run, trigger, ratio = st.mon_run, st.mon_trigger, st.mon_ratio
        if callback is not None:
            jax.debug.callback(callback, st.iteration, cost_acc, jnp.where(accept, step_norm, 0.0),
                               delta_next)
        new = _State(x=x_acc, cost=cost_acc, jtj=jtj_acc, g=g_acc, scale_inv=scale_inv,
                     delta=delta_next, alpha=alpha_next, nfev=nfev,
                     njev=st.njev + accept.astype(st.njev.dtype), status=status,
                     step_norm=jnp.where(accept, step_norm, 0.0), iteration=st.iteration + 1,
                     mon_run=run, mon_trigger=trigger, mon_ratio=ratio)
        done = st.status != -2  # freeze finished members (matters under vmap)
        return jax.tree.map(lambda old, nw: jnp.where(done, old, nw), st, new)

    final = lax.while_loop(lambda st: st.status == -2, body, state)
    status = final.status
    return SolverResult(
        x=final.x, cost=final.cost, grad=final.g, jtj=final.jtj, nfev=final.nfev,
        njev=final.njev, status=status, success=status > 0,
        active_mask=active_constraints(final.x, lower, upper, xtol),
        monitor_trigger=final.mon_trigger, monitor_ratio=final.mon_ratio,
    )
