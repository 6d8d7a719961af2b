"""What one attempt of a fit searches: the coordinates, the searched objective and the solve.

`Search` gathers, for a plan and its data, the per-angle map, the search coordinates z
(the free coordinates of the map; for varpro only the free physical ones) with their
bounds, the objective searched in them and the configured solve. `attempt(z)` is one
(defended) local fit from z; everything else in the run — recovery, screening, multistart —
is a choice of starts for it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from . import solve as solving
from .defense import SearchSpec, defended_solve
from .objectives import Affine, Separable
from .plan import FitPlan
from .recovery import inside


@dataclasses.dataclass(frozen=True)
class Search:
    plan: FitPlan
    rep: Any  # physics.parameters.Reparam
    full: Any  # the full-layout objective searched (stop-gradient copy when traced)
    w0: Any  # the start in the map's free coordinates
    lower: np.ndarray
    upper: np.ndarray
    loop: Callable
    solve: Callable  # solve(objective, z0, lower, upper, **overrides)

    @classmethod
    def create(cls, plan: FitPlan, rep, full, w0, traced: bool, callback=None) -> Search:
        n2 = 2 * plan.n_phi
        lower, upper = (rep.lower[n2:], rep.upper[n2:]) if plan.separable else (rep.lower,
                                                                                  rep.upper)
        sol = plan.solver
        max_nfev = sol.max_nfev
        if plan.streamed:
            cap = plan.streaming.gauss_newton_iterations
            max_nfev = min(max_nfev or cap, cap)
        a_search = rep.A[n2:, n2:] if plan.separable else rep.A
        configured = functools.partial(
            solving.solve, ftol=sol.ftol, xtol=sol.xtol, gtol=sol.gtol,
            x_scale=solving.z_scale(plan.x_scale, a_search),
            callback=callback if not plan.multistart.enable else None)

        def solve(objective, z, lo, hi, **kw):
            return configured(objective, z, lo, hi, **{"max_nfev": max_nfev, **kw})

        return cls(plan, rep, full, w0, lower, upper,
                   functools.partial(solving.while_loop, traced=traced), solve)

    # ------------------------------------------------------------------ coordinates

    @property
    def n2(self) -> int:
        return 2 * self.plan.n_phi

    @property
    def z0(self):
        return self.w0[self.n2:] if self.plan.separable else self.w0

    def searched(self, full=None):
        """The objective searched in z (for `full`, default the fit's own)."""
        full = self.full if full is None else full
        if self.plan.separable:
            n2, rep = self.n2, self.rep
            return Affine(Separable(full, self.w0[:n2], n2), rep.A[n2:, n2:], rep.b[n2:])
        return Affine(full, self.rep.A, self.rep.b)

    def theta(self, z):
        """The full physical vector at search coordinates z."""
        if self.plan.separable:
            n2 = self.n2
            return self.rep.A[n2:, n2:] @ z + self.rep.b[n2:]
        return self.rep.to_full(z)[self.n2:]

    def start_at(self, x_full):
        """Search coordinates of a full-layout point (clipped strictly inside the box)."""
        w = self.rep.from_full(x_full)
        return inside(w[self.n2:] if self.plan.separable else w, self.lower, self.upper)

    def expand(self, res):
        """A search-coordinate result in the map's free coordinates w (varpro: ℓ* added)."""
        if not self.plan.separable:
            return res
        import equinox as eqx

        n2 = self.n2
        ell = Separable(self.full, self.w0[:n2], n2).expand(self.theta(res.x))[:n2]
        active = jnp.concatenate([jnp.zeros(n2, dtype=res.active_mask.dtype), res.active_mask])
        return eqx.tree_at(lambda r: (r.x, r.active_mask), res,
                           (jnp.concatenate([ell, res.x]), active))

    # ------------------------------------------------------------------ one attempt

    def attempt(self, z_start):
        """One local fit from z_start: (result in z, SearchSpec, layer report, start cost)."""
        z_start = inside(z_start, self.lower, self.upper)
        searched = self.searched()
        cost0 = searched.cost(z_start)
        if self.plan.defense_active:
            res, spec, report = defended_solve(self.plan, self.full, self.rep, z_start,
                                               self.lower, self.upper, solve=self.solve,
                                               loop=self.loop, cond=solving.cond)
        else:
            res, spec, report = self.solve(searched, z_start, self.lower, self.upper), \
                SearchSpec(), {}
        return res, spec, report, cost0
