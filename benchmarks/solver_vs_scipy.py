"""Suite `solver`: the generic solver vs scipy.optimize.least_squares(trf) on NIST StRD problems.

Per problem, start 1: cold (compile + solve) and warm (median of 5, block_until_ready)
wall time and nfev of `xpcsfit.least_squares`, and of scipy (Jacobian from jax, jitted,
compiled outside the timing) from the same start; max relative error vs the certified
values. Quick: 6 problems, 3 warm runs.

    python -m benchmarks solver [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from benchmarks.common import (
    device_peak_gb,
    median_time,
    peak_rss_gb,
    print_table,
    timed,
    write_results,
)

QUICK_PROBLEMS = ("Misra1a", "Gauss1", "MGH17")
MAX_NFEV = 3000
COLUMNS = [("problem", "problem", "s"), ("n", "n", "d"), ("m", "m", "d"),
           ("cold_s", "cold s", ".2f"), ("warm_ms", "xpcsfit ms", ".2f"),
           ("nfev", "nfev", "d"), ("scipy_ms", "scipy ms", ".2f"),
           ("scipy_nfev", "scipy nfev", "d"), ("ratio", "scipy/xpcsfit", ".1f"),
           ("max_rel_err", "max rel err vs certified", ".1e")]


def measure(name: str, repeats: int) -> dict:
    """One NIST problem: xpcsfit cold/warm and scipy on start 1."""
    import jax
    import jax.numpy as jnp
    import scipy.optimize

    import xpcsfit
    from problems import load_nist

    p = load_nist(name)
    x0 = jnp.asarray(p.starts[0])
    solve = jax.jit(lambda x0, *a: xpcsfit.least_squares(p.fun, x0, args=a, max_nfev=MAX_NFEV))
    res, cold_s = timed(lambda: jax.block_until_ready(solve(x0, *p.args)))
    _, warm_s, _ = median_time(lambda: jax.block_until_ready(solve(x0, *p.args).x), repeats)
    fun, jac = jax.jit(p.fun), jax.jit(jax.jacfwd(p.fun))
    jax.block_until_ready(jac(x0, *p.args))

    def reference():
        return scipy.optimize.least_squares(
            lambda x: np.asarray(fun(jnp.asarray(x), *p.args)), p.starts[0],
            jac=lambda x: np.asarray(jac(jnp.asarray(x), *p.args)), method="trf",
            x_scale="jac", max_nfev=MAX_NFEV)

    ref, ref_s, _ = median_time(reference, repeats)
    m = int(p.args[-1].shape[0])
    n = p.starts[0].size
    return {"problem": name, "n": n, "m": m, "strategy": "least_squares (generic)",
            "cold_s": cold_s, "warm_s": warm_s, "warm_ms": 1e3 * warm_s, "nfev": int(res.nfev),
            "iterations": int(res.njev), "residual_variance": float(2 * res.cost / (m - n)),
            "max_rel_err": float(np.max(np.abs(np.asarray(res.x) - p.certified)
                                        / np.abs(p.certified))),
            "scipy_s": ref_s, "scipy_ms": 1e3 * ref_s, "scipy_nfev": int(ref.nfev),
            "ratio": ref_s / warm_s, "peak_rss_gb": peak_rss_gb(),
            "device_peak_gb": device_peak_gb()}


def run(quick: bool = False) -> None:
    """All NIST problems (quick: QUICK_PROBLEMS, 3 warm runs)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from problems import NIST_NAMES

    names = QUICK_PROBLEMS if quick else NIST_NAMES
    rows = [measure(name, 3 if quick else 5) for name in names]
    write_results("solver", rows, print_table(rows, COLUMNS))


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
