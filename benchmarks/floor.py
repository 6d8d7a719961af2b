"""The floor of a fit: the measured time of one fused data pass, and its work counts.

A fit's warm time divided by (passes × pass time) is its overhead over doing nothing but
data passes; the pass time compared with the pass's FLOP and byte counts (structural
counts from `benchmarks.passcost`, cross-checked against XLA's `cost_analysis`) and the
device's measured peaks (`benchmarks.machine`) is its efficiency.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from benchmarks.common import median_time
from benchmarks.passcost import PassCount, pass_count, roofline_seconds


def grid_problem(data: Any, mode: str, chunk_pairs: int | None):
    """The `GridProblem` a fit builds for `data` (same chunking and pairs: t1 < t2 only for
    exactly symmetric data), paper convention."""
    from xpcsfit.data import is_symmetric
    from xpcsfit.fitting.grid import make_grid_problem

    upper = bool(is_symmetric(np.asarray(data.g2), np.asarray(data.sigma)))
    return make_grid_problem(data.g2, data.sigma, data.t, data.phi, data.q, data.L,
                             mode=mode, convention="paper", chunk_pairs=chunk_pairs,
                             pairs="upper" if upper else "all")


def xla_counts(problem: Any, n_params: int) -> dict[str, float | None]:
    """XLA's own counts for the pass, lowered as one chunk from shapes alone (no data).

    XLA's cost analysis counts a `lax.scan` body once, not once per trip, so the pass is
    lowered with a single chunk of the same (padded) size. "bytes accessed" sums the
    operands and outputs of every fused kernel: intermediates included, not DRAM traffic.
    """
    import jax
    import jax.numpy as jnp

    from xpcsfit.fitting.structured import normal_equations

    spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a)), problem)
    one_chunk = dataclasses.replace(spec, chunk_size=problem.g2.shape[1])
    x = jax.ShapeDtypeStruct((n_params,), jnp.float64)
    compiled = jax.jit(normal_equations).lower(x, one_chunk).compile()
    cost = compiled.cost_analysis() or {}
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    return {"flops_xla": cost.get("flops"), "transcendentals_xla": cost.get("transcendentals"),
            "bytes_xla": cost.get("bytes accessed")}


def pass_floor(data: Any, mode: str, x: Any, chunk_pairs: int | None,
               repeats: int = 5) -> dict[str, Any]:
    """Time one pass (median of `repeats`, block_until_ready) at x; counts from both sources."""
    import jax
    import jax.numpy as jnp

    from xpcsfit.fitting.structured import normal_equations

    problem = grid_problem(data, mode, chunk_pairs)
    fn = jax.jit(normal_equations)
    x = jnp.asarray(x)
    jax.block_until_ready(fn(x, problem))
    _, seconds, runs = median_time(lambda: jax.block_until_ready(fn(x, problem)), repeats)
    n_t = int(problem.t.shape[0])
    count = pass_count(int(problem.phi.shape[0]), int(problem.g2.shape[1]), mode,
                       grid_pairs=n_t * n_t if problem.upper else None)
    return {"pass_s": seconds, "pass_min_s": min(runs), "pass_chunks": problem.n_chunks,
            "flops": count.flops,
            "transcendentals": count.transcendentals, "bytes": count.bytes,
            **xla_counts(problem, int(x.shape[0]))}


def efficiency(row: dict[str, Any], peaks: dict[str, float]) -> dict[str, float]:
    """Achieved rates of the pass and its roofline fraction (floor time / measured time)."""
    count = PassCount(row["flops"], row["transcendentals"], row["bytes"])
    floor_s = roofline_seconds(count, peaks["gemm_flops_per_s"], peaks["read_bytes_per_s"])
    return {"pass_gflops": count.flops / row["pass_s"] / 1e9,
            "pass_gbytes_per_s": count.bytes / row["pass_s"] / 1e9,
            "roofline_s": floor_s, "roofline_fraction": floor_s / row["pass_s"]}
