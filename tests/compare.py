"""Comparing a solve with a reference solve (scipy, or a recorded one) without rewarding luck.

Two solvers with the same algorithm and tolerances can stop at different points: the last
iterates depend on floating-point code generation, and on a zero-residual or flat problem
one of them may simply go further. So a solve passes when it is *at least as good*:

- its cost is equal to or lower than the reference's, within the stopping slack;
- its active set (bounds hit) is the reference's;
- its x equals the reference's only where that is implied: when the costs are equal and the
  minimum is isolated (the Gauss–Newton matrix on the free parameters is well conditioned),
  x may differ by what the cost slack allows along the weakest direction,
  ‖Δx‖ ≤ sqrt(2·slack/λ_min), plus a relative 1e-6.

A strictly lower cost means the reference stopped short, so its x is no target.
"""

from __future__ import annotations

import numpy as np

COST_RTOL = 1e-8
"""Relative cost slack: the solvers stop once a step reduces the cost by < ftol·cost
(ftol ≤ 1e-8 in these tests), so equal minima agree in cost to about that."""

COST_ATOL_FRACTION = 1e-14
"""Absolute cost slack as a fraction of the start's cost: a zero-residual problem ends wherever
a stopping test fires (seen: 1e-27 and 5e-17 for the same problem from a cost of 1250), so
costs below 1e-14 of the start's are both zero to what the stopping tests resolve."""

ISOLATED_CONDITION = 1e10
"""A minimum counts as isolated when κ(JᵀJ) on the free parameters is below this: then
x is determined to ~sqrt(κ·eps) ≈ 1e-3 relative even in the worst case, and far better in
the metric used below."""


def cost_slack(ref_cost: float, start_cost: float) -> float:
    return COST_RTOL * abs(ref_cost) + COST_ATOL_FRACTION * abs(start_cost)


def assert_at_least_as_good(
    x, cost, ref_x, ref_cost, *, start_cost, jtj=None, active=None, ref_active=None,
    x_rtol: float = 1e-6,
):
    """Assert that (x, cost) is as good a minimum as (ref_x, ref_cost); see the module text.

    `jtj` is the Gauss–Newton matrix at the reference solution (for the isolation test and
    the weakest curvature); without it x is compared only on the relative `x_rtol`.
    """
    x, ref_x = np.asarray(x, dtype=np.float64), np.asarray(ref_x, dtype=np.float64)
    cost, ref_cost = float(cost), float(ref_cost)
    slack = cost_slack(ref_cost, start_cost)
    assert cost <= ref_cost + slack, f"cost {cost!r} is worse than the reference {ref_cost!r}"
    if active is not None and ref_active is not None:
        np.testing.assert_array_equal(np.asarray(active), np.asarray(ref_active))
    if cost < ref_cost - slack:
        return  # a strictly lower minimum: the reference did not reach it
    free = np.ones(x.shape, bool) if ref_active is None else np.asarray(ref_active) == 0
    atol = 0.0
    if jtj is not None and np.any(free):
        h = np.asarray(jtj, dtype=np.float64)[np.ix_(free, free)]
        eig = np.linalg.eigvalsh(0.5 * (h + h.T))
        if eig[0] <= 0 or eig[-1] / eig[0] > ISOLATED_CONDITION:
            return  # a flat minimum: x is not determined, equal costs are all we can ask
        atol = float(np.sqrt(2.0 * slack / eig[0]))
    err = np.abs(x - ref_x)[free]
    tol = x_rtol * np.abs(ref_x)[free] + atol
    assert np.all(err <= tol), f"x {x} differs from the reference {ref_x} beyond {tol}"
