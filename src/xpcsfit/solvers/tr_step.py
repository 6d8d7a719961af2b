"""The descent of the trust-region reflective method: the subproblem on the Gram matrix and
the choice among truncated, reflected and scaled-gradient steps (scipy 'trf' semantics)."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .bounds import EPS, intersect_ball, step_to_bound


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


