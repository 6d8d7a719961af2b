"""Where an array lives: on this process, or split over the processes of a job."""

from __future__ import annotations

from typing import Any

import jax


def spans_processes(x: Any) -> bool:
    """True for a global array of a multi-process job (some shards live elsewhere)."""
    return (isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)
            and not x.is_fully_addressable)
