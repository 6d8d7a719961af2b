"""Where an array lives: on this process, or split over the processes of a job."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def spans_processes(x: Any) -> bool:
    """True for a global array of a multi-process job (some shards live elsewhere)."""
    return (isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)
            and not x.is_fully_addressable)


def local_value(x: Any) -> Any:
    """This process's copy of a value replicated over the processes of a job (else x)."""
    return x.addressable_data(0) if spans_processes(x) else x


def local_rows(x: jax.Array) -> tuple[np.ndarray, slice]:
    """This process's block of a global (n_phi, n_t, n_t) array split along t1 (axis 1),
    as a NumPy array, and the rows it covers. ValueError if its rows are not one block."""
    shards = sorted(x.addressable_shards, key=lambda s: s.index[1].start or 0)
    spans = [(s.index[1].start or 0, s.index[1].stop or x.shape[1]) for s in shards]
    if any(a[1] != b[0] for a, b in zip(spans, spans[1:], strict=False)):
        raise ValueError(f"data: this process's shards hold rows {spans}, not one block")
    blocks = [np.asarray(s.data) for s in shards]  # on the CPU: views, no copy
    block = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
    return block, slice(spans[0][0], spans[-1][1])


def process_sum(tree: Any) -> Any:
    """The sum over the processes of a job of each process's pytree of arrays (the same
    result, as NumPy, on every process; a collective: every process must call it)."""
    from jax.experimental import multihost_utils

    gathered = multihost_utils.process_allgather(tree)
    return jax.tree.map(lambda a: np.sum(np.asarray(a), axis=0), gathered)
