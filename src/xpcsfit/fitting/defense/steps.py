"""The defended solve: the anti-degeneracy layers as steps around the trust-region fit.

L1 (Fourier per-angle values) is the per-angle map chosen by the plan. Here, in order:
L5 shear weights scale each angle's residual rows (recomputed once from the fitted φ0),
L3 adds CV rows (its MSE from a plain solve first), L2 runs alternating block solves
before the final solve, and L4 watches ‖∇phys‖/‖∇per-angle‖ during it and responds. Each
step maps (what the objective is, z) to a new one plus a report of arrays, so the whole
chain is traceable (`jax.jit`, `jax.vmap`) and runs the same on streamed objectives.
The fit re-evaluates χ² and the covariance on the plain objective afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..objectives.transforms import Affine, Penalised
from .cv_penalty import auto_lambda
from .hierarchical import hierarchical_solve
from .monitor import GradientMonitor, reset_per_angle
from .shear_weights import shear_weights


class SearchSpec(eqx.Module):
    """What the searched objective is: angle weights (L5) and CV penalty (λ, MSE) (L3)."""

    weights: Float[Array, " n_phi"] | None = None
    lam: Float[Array, ""] | None = None
    mse: Float[Array, ""] | None = None

    def objective(self, full, rep, n_points: int, n_phi: int):
        """The searched objective in the free coordinates of `rep`."""
        inner = full if self.weights is None else full.weighted(self.weights)
        if self.lam is not None:
            inner = Penalised(inner, self.lam, self.mse, jnp.asarray(float(n_points)), n_phi)
        return Affine(inner, rep.A, rep.b)


def defended_solve(plan, full, rep, z0, lower, upper, *, solve: Callable, loop: Callable,
                   cond: Callable) -> tuple[Any, SearchSpec, dict[str, Any]]:
    """Run the enabled layers of `plan.defense` around `solve`; (result, spec, report)."""
    d = plan.defense
    n, n_points = plan.n_phi, plan.n_points
    k = int(np.asarray(lower).shape[0])
    physical = np.arange(k - rep.n_physical_free, k)
    per_angle = np.arange(0, k - rep.n_physical_free)
    phi_index = (plan.space.full_names.index("phi0")
                 if "phi0" in plan.space.full_names and "phi0" not in plan.fixed else None)
    report: dict[str, Any] = {}
    spec = SearchSpec()
    sw = d.shear_weighting

    def weights_at(z):
        x = rep.to_full(z)
        return shear_weights(full.phi, x[phi_index], w_min=sw.min_weight, alpha=sw.alpha)

    if sw.enable and phi_index is not None:
        spec = SearchSpec(weights_at(z0))
        report["shear_weighting"] = {"weights_initial": spec.weights}
    start = jnp.asarray(z0)
    reg = d.regularization
    if reg.enable:
        lam = auto_lambda(reg.target_contribution, reg.target_cv) if reg.lam == "auto" else reg.lam
        plain = solve(spec.objective(full, rep, n_points, n), start, lower, upper)
        start, mse = plain.x, 2.0 * plain.cost / n_points
        spec = SearchSpec(spec.weights, jnp.asarray(float(lam)), mse)
        report["regularization"] = {"lambda": jnp.asarray(float(lam)), "mse": mse}
    hier = d.hierarchical

    def run_hierarchical(z):
        return hierarchical_solve(
            solve, spec.objective(full, rep, n_points, n), z, lower, upper, physical,
            per_angle, loop=loop, max_rounds=hier.max_outer_iterations,
            physical_iterations=hier.physical_max_iterations,
            per_angle_iterations=hier.per_angle_max_iterations, rtol=hier.outer_tolerance)

    if hier.enable:
        start, rounds, change = run_hierarchical(start)
        report["hierarchical"] = {"rounds": rounds, "last_change": change}
    mon = d.monitor
    observer = (GradientMonitor(int(k - rep.n_physical_free), float(mon.ratio_threshold),
                                int(mon.consecutive_triggers)) if mon.enable else None)

    def final(z, spec_):
        return solve(spec_.objective(full, rep, n_points, n), z, lower, upper,
                     observer=observer)

    res = final(start, spec)
    if spec.weights is not None:  # weights follow the fitted φ0 once
        spec = SearchSpec(weights_at(res.x), spec.lam, spec.mse)
        res = final(res.x, spec)
        report["shear_weighting"]["weights_final"] = spec.weights
    if observer is not None:
        trig = res.observed.trigger
        report["gradient_monitoring"] = {"final_ratio": res.observed.ratio,
                                         "triggered_at": trig}
        if mon.response == "reset":
            z_reset = rep.from_full(reset_per_angle(rep.to_full(res.x), n))
            res = cond(trig >= 0, lambda: final(z_reset, spec), lambda: res)
        elif mon.response == "hierarchical":
            res = cond(trig >= 0, lambda: final(run_hierarchical(res.x)[0], spec), lambda: res)
        elif mon.response == "abort":
            res = eqx.tree_at(lambda r: r.success, res, res.success & (trig < 0))
    return res, spec, report
