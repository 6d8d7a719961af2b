"""From a plan and the data to what the run needs: the full-layout objective, the start
vector and the per-angle map."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..data import XPCSData, quantile_start
from ..layout import local_rows, local_value, process_sum, spans_processes
from .grid import make_grid_problem
from .objectives import InMemory, Streamed, StreamPass
from .objectives.joint import JointObjective
from .objectives.streamed import HostData
from .pairs import chunk_shape, n_pairs, upper_pairs
from .plan import FitPlan
from .sharded import device_mesh, shard_problem
from .stacked import StackedData

DEFAULT_CHUNK_POINTS = 65_536
"""Points (all angles together) per chunk of the data pass: measured fastest on a 2-core CPU
(the per-chunk derivative rows stay in cache); the memory held per chunk is
≈ (2 + p + 4)·8 B per point, ~6 MB for laminar flow, so STANDARD and OUT_OF_CORE share it."""


def chunk_pairs_for(n_phi: int, chunk_points: int | None) -> int:
    """Pairs (t1, t2) per chunk so that a chunk holds about `chunk_points` points."""
    points = DEFAULT_CHUNK_POINTS if chunk_points is None else int(chunk_points)
    return max(1, -(-points // max(1, n_phi)))


def full_objective(plan: FitPlan, data: XPCSData):
    """The objective in the full layout: `Streamed` for hybrid_streaming, else `InMemory`
    (sharded over `plan.n_devices` devices when > 1); for stacked q-bins (`StackedData`) a
    `JointObjective` of one such objective per bin. The one place a strategy string
    becomes an object."""
    if isinstance(data, StackedData):
        bins = tuple(_objective(plan, data.bin(k)) for k in range(data.n_bins))
        return JointObjective(bins, data.bin_sizes, plan.space.n_physical)
    return _objective(plan, data)


def _objective(plan: FitPlan, data: XPCSData):
    """`full_objective` of one dataset with a scalar q."""
    n_phi = int(data.g2.shape[0])
    if plan.streamed:
        return Streamed(_stream_pass(plan, data))
    problem = make_grid_problem(
        data.g2, data.sigma, data.t, data.phi, data.q, data.L, mode=plan.mode,
        convention=plan.convention, chunk_pairs=chunk_pairs_for(n_phi, plan.chunk_points),
        chunk_multiple=plan.n_devices, pairs=plan.pairs)
    if plan.solver.loss != "linear":
        problem = problem.with_loss(plan.solver.loss, plan.solver.f_scale)
    mesh = device_mesh(plan.n_devices) if plan.n_devices > 1 else None
    if mesh is not None:
        problem = shard_problem(problem, mesh)
    return InMemory(problem, mesh)


def _stream_pass(plan: FitPlan, data: XPCSData) -> StreamPass:
    """The host-streamed passes over `data`; a multi-process job's split data: over this
    process's rows (its own block of pairs), the sums added over the processes."""
    kw = dict(mode=plan.mode, convention=plan.convention, chunk_points=plan.streaming.chunk_size,
              loss=plan.solver.loss, f_scale=plan.solver.f_scale, pairs=plan.pairs)
    small = {k: np.asarray(local_value(getattr(data, k))) for k in ("t", "phi", "q", "L")}
    args = (small["t"], small["phi"], float(small["q"]), float(small["L"]))
    if not spans_processes(data.g2):
        return StreamPass(HostData.from_arrays(data.g2, data.sigma, *args), **kw)
    g2, rows = local_rows(data.g2)
    sigma, _ = local_rows(data.sigma)
    return StreamPass(HostData.from_arrays(g2, sigma, *args), **kw,
                      rows=(rows.start, rows.stop), reduce=process_sum)


def start_vector(plan: FitPlan, data: XPCSData, values, init=None):
    """Full-layout start: defaults, quantile contrast/offset, the plan's overrides (config,
    init dict, fixed values; `values` a `StartValues`) — or the `init` vector, clipped
    into the bounds (with the fixed values)."""
    space = plan.space
    lower, upper = space.full_lower(), space.full_upper()
    if init is not None and not isinstance(init, dict):
        x0 = jnp.clip(jnp.asarray(init, dtype=jnp.float64), lower, upper)
        held = [space.full_names.index(k) for k in plan.fixed]
        return x0.at[np.asarray(held, dtype=int)].set(values.fixed)
    xp = jnp if isinstance(data.g2, jax.Array) else np  # host arrays stay on the host
    contrast, offset = quantile_start(data.g2, xp)
    n = plan.n_phi
    x0 = jnp.asarray(space.full_default())
    x0 = x0.at[:n].set(jnp.asarray(contrast)).at[n : 2 * n].set(jnp.asarray(offset))
    if plan.start:
        index = np.asarray([space.full_names.index(k) for k in plan.start])
        x0 = x0.at[index].set(values.start)
    return x0


def chunk_layout(plan: FitPlan) -> dict:
    """How one pass is chunked: chunks, points per chunk, and the stratification check
    (every chunk of pairs holds every angle in equal numbers, by construction)."""
    n_t = plan.n_t
    if plan.streamed:  # as `StreamPass.size` / `n_chunks`
        size = max(1, -(-plan.streaming.chunk_size // plan.n_phi))
        n_chunks = -(-n_pairs(n_t, plan.pairs) // size)
    else:
        size, n_chunks = chunk_shape(n_pairs(n_t, plan.pairs),
                                     chunk_pairs_for(plan.n_phi, plan.chunk_points),
                                     plan.n_devices)
    held = upper_pairs(n_t) if plan.pairs == "upper" else np.arange(n_t * n_t)
    pair = np.full(n_chunks * size, -1)
    pair[:held.size] = held
    fitted = (pair >= 0) & (pair // n_t != pair % n_t)
    per_chunk = fitted.reshape(n_chunks, size).sum(axis=1)
    active = per_chunk[per_chunk > 0]
    return {"n_chunks": int(n_chunks), "chunk_points": int(size * plan.n_phi),
            "points_per_angle_per_chunk_min": int(active.min()),
            "points_per_angle_per_chunk_max": int(active.max()),
            "pairs": plan.pairs,
            "layout": "pair chunks over all angles (structural stratification)"}
