"""The defended solve: the anti-degeneracy layers applied around the trust-region fit.

L1 (Fourier per-angle values) is the reparameterisation chosen before this runs. Here:
L5 shear weights scale each angle's residual rows (recomputed once from the fitted φ0),
L3 adds CV rows to the sums, L2 runs alternating L-BFGS blocks before the solve (or as
the L4 response), and L4 watches ‖∇phys‖/‖∇per-angle‖ at every iteration. The result is
re-evaluated on the plain objective (original weights, no penalty), so χ² and the
covariance describe the data, not the defenses.

The layers only use the objective's methods (`weighted`, `solve`, `sums`,
`value_and_grad`, `phi`, `A`, `b`), which the in-memory `GridObjective` (standard,
out-of-core, multi-device) and the host-streamed `StreamObjective` share: every strategy
gets the same layers.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .defense import DefenseConfig, auto_lambda, hierarchical_solve, respond, shear_weights


def defended_solve(objective, lower, upper, z0, *, dcfg: DefenseConfig, n_phi: int,
                   n_physical: int, n_points: int, phi_index: int | None
                   ) -> tuple[Any, dict[str, Any]]:
    """Run the enabled layers around ``objective.solve``; returns (result, layer report)."""
    A, b = np.asarray(objective.A), np.asarray(objective.b)
    lower_np, upper_np = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    k = z0.shape[0]
    phys_idx = np.arange(k - n_physical, k)
    per_idx = np.arange(0, k - n_physical)
    report: dict[str, Any] = {}
    sw = dcfg.shear_weighting
    shear_on = bool(sw["enable"]) and phi_index is not None

    def reweighted(z):
        w = shear_weights(objective.phi, (A @ np.asarray(z) + b)[phi_index],
                          w_min=sw["min_weight"], alpha=sw["alpha"])
        return objective.weighted(np.asarray(w)), np.asarray(w).tolist()

    weighted = objective
    if shear_on:
        weighted, w0 = reweighted(z0)
        report["shear_weighting"] = {"ran": True, "weights_initial": w0}
    span = np.where(np.isfinite(upper_np - lower_np), upper_np - lower_np, 1.0)
    base = np.where(np.isfinite(lower_np), lower_np, 0.0)

    def solve(z_start, target, **kw):
        z_start = np.clip(z_start, lower_np + 1e-10 * span, upper_np - 1e-10 * span)
        return target.solve(z_start, lower_np, upper_np, **kw)

    reg = dcfg.regularization
    penalty = None
    start = np.asarray(z0, dtype=np.float64)
    if reg["enable"]:
        lam = (auto_lambda(reg["target_contribution"], reg["target_cv"])
               if reg["lambda"] == "auto" else float(reg["lambda"]))
        # MSE of the fit without the penalty (the start's MSE can be far from the data's).
        plain = solve(start, weighted)
        start = np.asarray(plain.x)
        mse = float(2.0 * plain.cost / n_points)
        penalty = (lam, mse, n_points, n_phi)
        report["regularization"] = {"ran": True, "lambda": lam, "mse": mse}
    hier = dcfg.hierarchical

    def run_hierarchical(z):
        """L-BFGS blocks in coordinates normalised by the bounds (as the streaming warmup)."""
        def vg(u):
            cost, grad = weighted.value_and_grad(base + span * u)
            return cost, grad * span

        u, history = hierarchical_solve(
            vg, (z - base) / span, (lower_np - base) / span, (upper_np - base) / span,
            phys_idx, per_idx, max_rounds=int(hier["max_outer_iterations"]),
            physical_iterations=int(hier["physical_max_iterations"]),
            per_angle_iterations=int(hier["per_angle_max_iterations"]),
            rtol=float(hier["outer_tolerance"]))
        return base + span * u, history

    if hier["enable"]:
        start, history = run_hierarchical(start)
        report["hierarchical"] = {"ran": True, "rounds": history}
    mon = dcfg.gradient_monitoring
    watch = ((int(k - n_physical), float(mon["ratio_threshold"]),
              int(mon["consecutive_triggers"])) if mon["enable"] else None)
    kw = dict(penalty=penalty, monitor=watch)
    res = solve(start, weighted, **kw)
    if shear_on:  # weights follow the fitted φ0 once
        weighted, w1 = reweighted(res.x)
        res = solve(np.asarray(res.x), weighted, **kw)
        report["shear_weighting"]["weights_final"] = w1
    aborted = False
    if mon["enable"]:
        trigger = int(res.monitor_trigger)
        entry = {"ran": True, "final_ratio": float(res.monitor_ratio), "triggered_at": trigger,
                 "response": mon["response"] if trigger >= 0 else None}
        if trigger >= 0:
            x_full = A @ np.asarray(res.x) + b
            if mon["response"] == "reset":
                x_new, action = respond("reset", x_full, n_phi)
                z_new = np.linalg.lstsq(A, x_new - b, rcond=None)[0]
                res = solve(z_new, weighted, **kw)
            elif mon["response"] == "hierarchical":
                z_new, history = run_hierarchical(np.asarray(res.x))
                res = solve(z_new, weighted, **kw)
                action = f"hierarchical stage ({len(history)} rounds) then re-solve"
            else:
                action = respond(mon["response"], x_full, n_phi)[1]
                aborted = mon["response"] == "abort"
            entry["action"] = action
        report["gradient_monitoring"] = entry
    if weighted is not objective or penalty is not None:
        cost, jtj, jtr = objective.sums(res.x)
        res = eqx.tree_at(lambda r: (r.cost, r.jtj, r.grad), res,
                          (jnp.asarray(cost), jnp.asarray(jtj), jnp.asarray(jtr)))
    if aborted:
        res = eqx.tree_at(lambda r: r.success, res, jnp.asarray(False))
    return res, report
