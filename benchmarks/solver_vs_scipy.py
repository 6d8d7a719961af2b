"""The generic solver vs scipy.optimize.least_squares(trf) on NIST StRD problems.

Per problem and start 1: warm wall time (jitted, block_until_ready, median of 5) and nfev
of xpcsfit.least_squares, and of scipy (Jacobian from jax, jitted) on the same start.

    python -m benchmarks.solver_vs_scipy
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import environment, median_time, print_table, write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def run():
    import scipy.optimize

    import xpcsfit
    from problems import NIST_NAMES, load_nist

    rows = []
    for name in NIST_NAMES:
        p = load_nist(name)
        x0 = jnp.asarray(p.starts[0])
        solve = jax.jit(lambda x0, *a, p=p: xpcsfit.least_squares(p.fun, x0, args=a,
                                                                   max_nfev=3000))
        res = solve(x0, *p.args)
        jax.block_until_ready(res.x)
        _, ours_s, _ = median_time(lambda solve=solve, x0=x0, p=p:
                                   jax.block_until_ready(solve(x0, *p.args).x), 5)
        fun, jac = jax.jit(p.fun), jax.jit(jax.jacfwd(p.fun))
        jac(x0, *p.args)

        def ref_fit(p=p, fun=fun, jac=jac):
            return scipy.optimize.least_squares(
                lambda x: np.asarray(fun(jnp.asarray(x), *p.args)), p.starts[0],
                jac=lambda x: np.asarray(jac(jnp.asarray(x), *p.args)), method="trf",
                x_scale="jac", max_nfev=3000)

        ref, ref_s, _ = median_time(ref_fit, 5)
        rel = np.max(np.abs(np.asarray(res.x) - p.certified) / np.abs(p.certified))
        rows.append({"problem": name, "n": p.starts[0].size, "m": int(p.args[-1].shape[0]),
                     "ours_ms": 1e3 * ours_s, "ours_nfev": int(res.nfev),
                     "scipy_ms": 1e3 * ref_s, "scipy_nfev": int(ref.nfev),
                     "speedup": ref_s / ours_s, "rel_err_certified": float(rel)})
    table = print_table(rows, [("problem", "problem", "s"), ("n", "n", "d"), ("m", "m", "d"),
                               ("ours_ms", "xpcsfit ms", ".2f"), ("ours_nfev", "nfev", "d"),
                               ("scipy_ms", "scipy ms", ".2f"), ("scipy_nfev", "scipy nfev", "d"),
                               ("speedup", "scipy/xpcsfit", ".1f"),
                               ("rel_err_certified", "max rel err vs certified", ".1e")])
    print(f"wrote {write_json('solver_vs_scipy', {'environment': environment(), 'cases': rows, 'table': table})}")


if __name__ == "__main__":
    run()
