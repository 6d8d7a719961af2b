"""L2: hierarchical optimisation — alternate L-BFGS on the physical and per-angle blocks.

Each stage freezes the other block (its lower = upper = current value) and runs the
bounded L-BFGS warmup on the full loss; rounds stop when the physical block's relative
change falls below `rtol`. Works with any host (loss, gradient) function, in memory or
streamed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...solvers.lbfgs import lbfgs_warmup


def hierarchical_solve(
    value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0,
    lower,
    upper,
    physical_idx,
    per_angle_idx,
    *,
    max_rounds: int = 5,
    physical_iterations: int = 100,
    per_angle_iterations: int = 50,
    rtol: float = 1e-6,
) -> tuple[np.ndarray, list[dict]]:
    """Alternating block minimisation; returns (x, history of {round, loss, change})."""
    x = np.array(x0, dtype=np.float64)
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    phys, per = np.asarray(physical_idx), np.asarray(per_angle_idx)
    history: list[dict] = []
    for round_ in range(1, max_rounds + 1):
        before = x[phys].copy()
        for block, iterations in ((phys, physical_iterations), (per, per_angle_iterations)):
            lo, hi = x.copy(), x.copy()
            lo[block], hi[block] = lower[block], upper[block]
            x = lbfgs_warmup(value_and_grad, x, lo, hi, max_iterations=iterations,
                             rtol=1e-10).x
        change = float(np.linalg.norm(x[phys] - before) / max(np.linalg.norm(before), 1e-300))
        history.append({"round": round_, "loss": float(value_and_grad(x)[0]), "change": change})
        if change < rtol:
            break
    return x, history
