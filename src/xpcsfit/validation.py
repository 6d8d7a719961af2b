"""Host-side input checks shared by the data container, the config and the entry points.

Each raises ValueError whose message names the field and the offending value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def require_positive(name: str, value: Any) -> float:
    """A finite float > 0."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a positive number, got {value!r}") from None
    if not (math.isfinite(out) and out > 0):
        raise ValueError(f"{name}: must be finite and > 0, got {value!r}")
    return out


def require_finite_array(name: str, value: Any, ndim: int | None = None) -> np.ndarray:
    """A float64 copy of `value`, all finite, optionally of a given rank."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a numeric array, got {type(value).__name__}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}: {int(bad.sum())} non-finite value(s), first at index {where} "
                         f"= {arr[where]!r}")
    return arr


def require_uniform_grid(name: str, t: np.ndarray, rtol: float = 1e-6) -> float:
    """The step of a uniform, increasing grid of ≥ 2 times."""
    if t.ndim != 1 or t.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 times on a 1-D grid, got shape {t.shape}")
    steps = np.diff(t)
    dt = float(steps.mean())
    if not dt > 0:
        raise ValueError(f"{name}: times must increase, got step {dt!r}")
    worst = float(np.max(np.abs(steps - dt)))
    if worst > rtol * dt:
        i = int(np.argmax(np.abs(steps - dt)))
        raise ValueError(f"{name}: non-uniform time grid: step {steps[i]!r} at index {i} "
                         f"differs from the mean step {dt!r}")
    return dt


def require_angles(name: str, phi: Any) -> np.ndarray:
    """A finite 1-D array of ≥ 1 distinct angles (degrees)."""
    arr = require_finite_array(name, np.atleast_1d(np.asarray(phi, dtype=np.float64)), ndim=1)
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: empty angle list")
    values, counts = np.unique(arr, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(f"{name}: duplicate angle(s) {values[counts > 1].tolist()}")
    return arr
