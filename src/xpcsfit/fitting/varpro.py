"""per_angle_mode="varpro": contrast and offset eliminated by variable projection.

g2 = o_a + c_a·K_a(θ) is affine in the per-angle values ℓ = (c, o) for fixed physical θ,
and ∂g2/∂c_a = K_a, ∂g2/∂o_a = 1 do not depend on ℓ, so `solvers.separable` applies to
the full-layout data pass unchanged: at every evaluation ℓ*(θ) is the exact weighted
linear least-squares solution (a 2×2 system per angle; the full-layout Gram's ℓℓ block is
block-diagonal), and the trust-region solver works on the 3 (static) or 7 (laminar)
physical parameters with the exact gradient and Kaufman's Gram matrix. Each evaluation
costs two data passes. The result is reported in the individual layout: x = (c*, o*, θ*)
and the full JᵀJ at x, so covariances of all parameters follow as for `individual`.

Bounds: ℓ* is the *unconstrained* linear solution (clipping would change the objective and
its gradient). If a contrast or offset lands outside its bounds, the fit is still the exact
optimum of the unconstrained-ℓ problem; `linear_bounds_report` names each such value and
the fit records it (device_info["varpro"]) and warns. Defense layers are not applied:
eliminating ℓ is itself the remedy for ℓ absorbing the shear signal, and the CV rows are
not affine in ℓ.

Entry points: `GridObjective.solve_separable` (the compiled `solve_grid(separable=True)`,
standard / out_of_core / multi-device) and `StreamObjective.solve_separable`
(`varpro_host_solve` below, hybrid_streaming).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..solvers.separable import separable_solve
from ..solvers.streaming import streamed_evaluate
from ..solvers.trust_region import SolverResult


def varpro_host_solve(
    host_pass: Callable[[np.ndarray], tuple[Any, Any, Any]],
    n_phi: int,
    lower: Float[Array, " n"],
    upper: Float[Array, " n"],
    x0: Float[Array, " n"],
    **solver_kw: Any,
) -> SolverResult:
    """Varpro solve over a host-streamed full pass ``host_pass(x_full) -> (cost, JᵀJ, Jᵀr)``
    (hybrid_streaming; each reduced evaluation streams the data twice; no L-BFGS warmup)."""
    x0 = jnp.asarray(x0, dtype=jnp.float64)
    m = 2 * int(n_phi)
    evaluate = streamed_evaluate(host_pass, x0.shape[0])
    return separable_solve(evaluate, x0[:m], x0[m:], jnp.asarray(lower)[m:],
                           jnp.asarray(upper)[m:], **solver_kw)


VARPRO_NO_DEFENSE = ("per_angle_mode varpro: contrast/offset are eliminated exactly, so the "
                     "layers (which act on them) are not applied")


def varpro_report(
    x_full: Float[Array, " n"], lower: Float[Array, " n"], upper: Float[Array, " n"],
    names: tuple[str, ...], n_phi: int, notes: list[str] | None = None,
) -> dict[str, Any]:
    """device_info["varpro"]: method facts and the eliminated contrast/offset values that lie
    outside their bounds (name → value; not clipped). Appends one warning note per value."""
    x = np.asarray(x_full, dtype=np.float64)[: 2 * n_phi]
    lo = np.asarray(lower, dtype=np.float64)[: 2 * n_phi]
    hi = np.asarray(upper, dtype=np.float64)[: 2 * n_phi]
    outside = {names[i]: float(x[i]) for i in np.flatnonzero((x < lo) | (x > hi))}
    if notes is not None:
        notes.extend(f"varpro: eliminated {name} = {value:.6g} is outside its bounds "
                     "(not clipped)" for name, value in outside.items())
    return {"linear_parameters": "eliminated (exact weighted linear least squares per angle)",
            "gram": "Kaufman", "passes_per_evaluation": 2, "outside_bounds": outside}
