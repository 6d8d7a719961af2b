"""Measured peak rates of the device: float64 GEMM FLOP/s and streaming read bytes/s.

These are the denominators of the roofline floor of a data pass (see `benchmarks.floor`):
what this device actually reaches on the two kernels that bound any pass, measured in the
same run (so under the same contention) rather than taken from a datasheet.
"""

from __future__ import annotations

import functools

GEMM_N = 1024
READ_N = 1 << 24  # 16M float64 = 128 MiB per array: well outside any cache


@functools.cache
def peak_rates(repeats: int = 5) -> dict[str, float]:
    """{"gemm_flops_per_s", "read_bytes_per_s"} of the default device (float64, median).

    The read rate is that of a dot product Σ b·c of two 128 MiB arrays (no output array):
    a data pass mostly reads, and allocating a fresh output each call would time page faults.
    """
    import jax
    import jax.numpy as jnp

    from benchmarks.common import median_time

    jax.config.update("jax_enable_x64", True)
    a = jnp.ones((GEMM_N, GEMM_N), dtype=jnp.float64)
    gemm = jax.jit(lambda a: a @ a)
    jax.block_until_ready(gemm(a))
    _, gemm_s, _ = median_time(lambda: jax.block_until_ready(gemm(a)), repeats)
    b = jnp.ones(READ_N, dtype=jnp.float64)
    c = jnp.full(READ_N, 2.0, dtype=jnp.float64)
    dot = jax.jit(lambda b, c: jnp.sum(b * c))
    jax.block_until_ready(dot(b, c))
    _, read_s, _ = median_time(lambda: jax.block_until_ready(dot(b, c)), repeats)
    return {"gemm_flops_per_s": 2.0 * GEMM_N**3 / gemm_s,
            "read_bytes_per_s": 2 * 8 * READ_N / read_s}
