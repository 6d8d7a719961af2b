"""The defended solve: the anti-degeneracy layers applied around the trust-region fit.

L1 (Fourier per-angle values) is the reparameterisation chosen before this runs. Here:
L5 shear weights scale each angle's data weights (recomputed once from the fitted φ0),
L3 adds CV rows to the sums, L2 runs alternating L-BFGS blocks before the solve (or as
the L4 response), and L4 watches ‖∇phys‖/‖∇per-angle‖ at every iteration. The result is
re-evaluated on the plain objective (original weights, no penalty), so χ² and the
covariance describe the data, not the defenses.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .defense import (
    DefenseConfig,
    apply_angle_weights,
    auto_lambda,
    hierarchical_solve,
    respond,
    shear_weights,
)
from .strategies import free_normal_equations, solve_grid


@jax.jit
def _value_and_grad(z, problem, A, b):
    cost, _, jtr = free_normal_equations(z, problem, A, b)
    return cost, jtr


@jax.jit
def _sums(z, problem, A, b):
    return free_normal_equations(z, problem, A, b)


def defended_solve(problem, A, b, lower, upper, z0, *, dcfg: DefenseConfig, n_phi: int,
                   n_physical: int, n_points: int, phi_index: int | None, solve_kw: dict
                   ) -> tuple[Any, dict[str, Any]]:
    """Run the enabled layers around `solve_grid`; returns (result, layer report)."""
    A_, b_ = jnp.asarray(A), jnp.asarray(b)
    lo, hi = jnp.asarray(lower), jnp.asarray(upper)
    k = z0.shape[0]
    phys_idx = np.arange(k - n_physical, k)
    per_idx = np.arange(0, k - n_physical)
    report: dict[str, Any] = {}
    weighted = problem
    sw = dcfg.shear_weighting
    if sw["enable"] and phi_index is not None:
        x0 = np.asarray(A) @ z0 + np.asarray(b)
        w = shear_weights(problem.phi, x0[phi_index], w_min=sw["min_weight"], alpha=sw["alpha"])
        weighted = eqx.tree_at(lambda p: p.weight, problem,
                               apply_angle_weights(problem.weight, w))
        report["shear_weighting"] = {"ran": True, "weights_initial": np.asarray(w).tolist()}
    reg = dcfg.regularization
    penalty = None
    start = np.asarray(z0, dtype=np.float64)
    if reg["enable"]:
        lam = (auto_lambda(reg["target_contribution"], reg["target_cv"])
               if reg["lambda"] == "auto" else float(reg["lambda"]))
        # MSE of the fit without the penalty (the start's MSE can be far from the data's).
        plain = solve_grid(weighted, A_, b_, lo, hi, jnp.asarray(start), **solve_kw)
        start = np.asarray(plain.x)
        mse = float(2.0 * plain.cost / n_points)
        penalty = (lam, mse, n_points, n_phi)
        report["regularization"] = {"ran": True, "lambda": lam, "mse": mse}
    hier = dcfg.hierarchical

    lower_np, upper_np = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    box = np.where(np.isfinite(upper_np - lower_np), upper_np - lower_np, 1.0)
    base = np.where(np.isfinite(lower_np), lower_np, 0.0)

    def run_hierarchical(x):
        """L-BFGS blocks in coordinates normalised by the bounds (as the streaming warmup)."""
        def vg(u):
            cost, grad = _value_and_grad(jnp.asarray(base + box * u), weighted, A_, b_)
            return float(cost), np.asarray(grad) * box

        u, history = hierarchical_solve(
            vg, (x - base) / box, (lower_np - base) / box, (upper_np - base) / box, phys_idx,
            per_idx, max_rounds=int(hier["max_outer_iterations"]),
            physical_iterations=int(hier["physical_max_iterations"]),
            per_angle_iterations=int(hier["per_angle_max_iterations"]),
            rtol=float(hier["outer_tolerance"]))
        return base + box * u, history

    if hier["enable"]:
        start, history = run_hierarchical(start)
        report["hierarchical"] = {"ran": True, "rounds": history}
    mon = dcfg.gradient_monitoring
    watch = ((int(k - n_physical), float(mon["ratio_threshold"]),
              int(mon["consecutive_triggers"])) if mon["enable"] else None)
    kw = dict(solve_kw, penalty=penalty, monitor=watch)
    span = np.asarray(upper) - np.asarray(lower)
    span = np.where(np.isfinite(span), span, 1.0)

    def solve(z_start, prob):
        z_start = np.clip(z_start, np.asarray(lower) + 1e-10 * span,
                          np.asarray(upper) - 1e-10 * span)
        return solve_grid(prob, A_, b_, lo, hi, jnp.asarray(z_start), **kw)

    res = solve(start, weighted)
    if sw["enable"] and phi_index is not None:  # weights follow the fitted φ0 once
        x_fit = np.asarray(A) @ np.asarray(res.x) + np.asarray(b)
        w = shear_weights(problem.phi, x_fit[phi_index], w_min=sw["min_weight"],
                          alpha=sw["alpha"])
        weighted = eqx.tree_at(lambda p: p.weight, problem, apply_angle_weights(problem.weight, w))
        res = solve(np.asarray(res.x), weighted)
        report["shear_weighting"]["weights_final"] = np.asarray(w).tolist()
    aborted = False
    if mon["enable"]:
        trigger = int(res.monitor_trigger)
        entry = {"ran": True, "final_ratio": float(res.monitor_ratio), "triggered_at": trigger,
                 "response": mon["response"] if trigger >= 0 else None}
        if trigger >= 0:
            x_full = np.asarray(A) @ np.asarray(res.x) + np.asarray(b)
            if mon["response"] == "reset":
                x_new, action = respond("reset", x_full, n_phi)
                z_new = np.linalg.lstsq(np.asarray(A), x_new - np.asarray(b), rcond=None)[0]
                res = solve(z_new, weighted)
            elif mon["response"] == "hierarchical":
                z_new, history = run_hierarchical(np.asarray(res.x))
                res = solve(z_new, weighted)
                action = f"hierarchical stage ({len(history)} rounds) then re-solve"
            else:
                action = respond(mon["response"], x_full, n_phi)[1]
                aborted = mon["response"] == "abort"
            entry["action"] = action
        report["gradient_monitoring"] = entry
    if weighted is not problem or penalty is not None:
        cost, jtj, jtr = _sums(res.x, problem, A_, b_)
        res = eqx.tree_at(lambda r: (r.cost, r.jtj, r.grad), res, (cost, jtj, jtr))
    if aborted:
        res = eqx.tree_at(lambda r: r.success, res, jnp.asarray(False))
    return res, report
