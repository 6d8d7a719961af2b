"""The structured data pass with the (t1, t2) pairs sharded across devices.

Each device holds a contiguous block of every angle's pairs (so every shard still holds
every angle), accumulates its chunks with `lax.scan`, and the per-angle sums are added
across devices with `lax.psum` — the same sums as one device, formed in another order.
Works for the local devices of one host (GPUs, or CPU devices forced with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``) and, after
``jax.distributed.initialize()``, for the global devices of a multi-host job.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ..solvers.normal_eqs import accumulate
from .grid import GridProblem
from .structured import assemble, chunk_sums, model_pieces

AXIS = "pairs"


def device_mesh(n_devices: int | None = None) -> Mesh:
    """A 1-D mesh over the first `n_devices` devices (default: all)."""
    devices = jax.devices()
    n = len(devices) if n_devices is None else int(n_devices)
    if not 1 <= n <= len(devices):
        raise ValueError(f"n_devices: must be in [1, {len(devices)}], got {n_devices!r}")
    return jax.make_mesh((n,), (AXIS,), devices=devices[:n], axis_types=(AxisType.Auto,))


def shard_problem(problem: GridProblem, mesh: Mesh) -> GridProblem:
    """Place g2 and weight with their pair axis split over the mesh (chunks must divide)."""
    n_dev = mesh.devices.size
    if problem.n_chunks % n_dev:
        raise ValueError(f"n_chunks: {problem.n_chunks} chunks do not split over {n_dev} "
                         f"devices; build the problem with a chunk count divisible by it")
    spec = NamedSharding(mesh, P(None, AXIS))
    return dataclasses.replace(problem, g2=jax.device_put(problem.g2, spec),
                               weight=jax.device_put(problem.weight, spec))


def sharded_normal_equations(x, problem: GridProblem, mesh: Mesh):
    """Cost, JᵀJ and Jᵀr like `structured.normal_equations`, summed across the mesh."""
    n_dev = mesh.devices.size
    size = problem.chunk_size
    local_chunks = problem.n_chunks // n_dev
    n_pad = problem.g2.shape[1]

    def local(g2, weight, x):
        contrast, offset, u, du, pieces = model_pieces(
            x, t=problem.t, phi=problem.phi, q=problem.q, L=problem.L, mode=problem.mode,
            convention=problem.convention, n_pad=n_pad, index=problem.index,
            upper=problem.upper)
        first = lax.axis_index(AXIS) * local_chunks

        def chunk(k):
            return chunk_sums(
                contrast, offset, u, du, pieces.slice((first + k) * size, size),
                lax.dynamic_slice_in_dim(g2, k * size, size, axis=1),
                lax.dynamic_slice_in_dim(weight, k * size, size, axis=1),
                mode=problem.mode, convention=problem.convention, loss=problem.loss,
                f_scale=problem.f_scale)

        sums = accumulate(chunk, local_chunks)
        return jax.tree.map(lambda s: lax.psum(s, AXIS), sums)

    cost, gram, moment = jax.shard_map(
        local, mesh=mesh, in_specs=(P(None, AXIS), P(None, AXIS), P()), out_specs=P(),
        check_vma=False)(problem.g2, problem.weight, jnp.asarray(x))
    jtj, jtr = assemble(gram, moment)
    return cost, jtj, jtr
