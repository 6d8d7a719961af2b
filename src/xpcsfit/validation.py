"""Host-side input checks shared by the data container, the config and the entry points,
and the normalisation of times and σ shared by the builders of `XPCSData`.

Each raises ValueError whose message names the field and the offending value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

F64_EPS = float(np.finfo(np.float64).eps)
DEFAULT_SIGMA = 0.01
"""σ used when none is given: 1% of a baseline of 1."""
RESOLVED_STEP = 0.05
"""A time axis whose dtype resolution near its largest |t| exceeds 5% of its step is refused:
its uniformity cannot be checked."""


def require_positive(name: str, value: Any) -> float:
    """A finite float > 0."""
    if isinstance(value, str | bytes | bool) or np.iscomplexobj(value):
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a positive number, got {value!r}") from None
    if not (math.isfinite(out) and out > 0):
        shown = value.item() if isinstance(value, np.generic) else value
        raise ValueError(f"{name}: must be finite and > 0, got {shown!r}")
    return out


def require_real_array(name: str, value: Any, ndim: int | None = None) -> np.ndarray:
    """A float64 copy of `value`, optionally of a given rank; complex, string, boolean and
    date values are refused (a complex c2 is never silently reduced to its real part)."""
    if isinstance(value, str | bytes):
        raise ValueError(f"{name}: expected numbers, got the string {value[:40]!r}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a numeric array, got {type(value).__name__}") from None
    kind = arr.dtype.kind
    if kind == "c":
        imag = float(np.max(np.abs(arr.imag))) if arr.size else 0.0
        raise ValueError(f"{name}: complex values are not accepted (largest |imaginary part| "
                         f"{imag!r}); pass real numbers")
    if kind in "USVbMm":
        raise ValueError(f"{name}: expected numbers, got an array of dtype {arr.dtype}")
    try:
        out = np.array(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a numeric array, got {type(value).__name__} "
                         f"holding non-numbers") from None
    if ndim is not None and out.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {out.shape}")
    return out


def first_non_finite(name: str, arr: np.ndarray, angle: int | None = None,
                     origin: tuple[int, ...] | None = None) -> None:
    """Raise naming the count and the first index of non-finite values of `arr`, if any
    (`arr` being the slice of angle index `angle`, when given; a block of it whose first
    element is at index `origin` of the slice, when given: the index is then the slice's)."""
    bad = ~np.isfinite(arr)
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        at = first if origin is None else tuple(i + o for i, o in zip(first, origin, strict=True))
        where = "" if angle is None else f" at angle index {angle}"
        index = at if angle is None else (angle, *at)
        raise ValueError(f"{name}: {int(bad.sum())} non-finite value(s){where}, first at "
                         f"index {index} = {arr[first].item()!r}")


def require_finite_array(name: str, value: Any, ndim: int | None = None) -> np.ndarray:
    """A float64 copy of `value`, real, all finite, optionally of a given rank."""
    arr = require_real_array(name, value, ndim)
    first_non_finite(name, arr)
    return arr


def resolution(value: Any) -> float:
    """Relative resolution (machine epsilon) of the floating dtype of `value`; float64's for
    integers, lists of Python floats and anything else."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(value).dtype
        except (TypeError, ValueError):
            return F64_EPS
    if np.issubdtype(dtype, np.floating):
        return max(float(np.finfo(dtype).eps), F64_EPS)
    return F64_EPS


def require_uniform_grid(name: str, t: np.ndarray, rtol: float = 1e-6,
                         eps: float = F64_EPS) -> float:
    """The step of a uniform, increasing grid of ≥ 2 times.

    A step may differ from the mean step by rtol·dt + 4·eps·max|t|, where `eps` is the
    resolution of the dtype the times came in (see `resolution`): each time is within
    ~eps·|t| of its exact value, a step within twice that, the mean step within that over
    n − 1; 4 leaves a margin. So k·dt computed (or summed) in float32 is accepted.
    """
    if t.ndim != 1 or t.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 times on a 1-D grid, got shape {t.shape}")
    steps = np.diff(t)
    dt = float(steps.mean())
    if not dt > 0:
        raise ValueError(f"{name}: times must increase, got step {dt!r}")
    slack = 4.0 * eps * float(np.max(np.abs(t)))
    if slack > RESOLVED_STEP * dt:
        raise ValueError(f"{name}: the time resolution of the input dtype ({eps:.2g} × "
                         f"{float(np.max(np.abs(t))):.6g} s) does not resolve the step "
                         f"{dt!r} s; pass float64 times")
    worst = float(np.max(np.abs(steps - dt)))
    if worst > rtol * dt + slack:
        i = int(np.argmax(np.abs(steps - dt)))
        raise ValueError(f"{name}: non-uniform time grid: step {steps[i]!r} at index {i} "
                         f"differs from the mean step {dt!r}")
    return dt


def require_angles(name: str, phi: Any) -> np.ndarray:
    """A finite 1-D array of ≥ 1 distinct angles (degrees)."""
    arr = require_finite_array(name, np.atleast_1d(require_real_array(name, phi)), ndim=1)
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: empty angle list")
    values, counts = np.unique(arr, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(f"{name}: duplicate angle(s) {values[counts > 1].tolist()}")
    return arr


def check_dt(name: str, dt: float, step: float, t: np.ndarray, eps: float) -> None:
    """`dt` must equal the grid step to 1e-6 relative, plus the slack of the grid check."""
    if abs(dt - step) > 1e-6 * dt + 4.0 * eps * float(np.max(np.abs(t))):
        raise ValueError(f"{name}: {dt!r} does not match the time grid step {step!r}")


def time_grid(t: Any, dt: Any = None) -> tuple[np.ndarray, float]:
    """The float64 time grid `t` (s) stands for, and its step `dt` (s).

    `t` must be finite, 1-D, uniform and increasing to the resolution of its dtype; times
    of a lower precision than float64 come back as the grid t[0] + k·dt they stand for.
    `dt`: None → the step of t, else it must be > 0 and match that step.
    """
    eps = resolution(t)
    t = require_finite_array("t", t, ndim=1)
    step = require_uniform_grid("t", t, eps=eps)
    if dt is not None:
        dt = require_positive("dt", dt)
        check_dt("dt", dt, step, t, eps)
    else:
        dt = step
    if eps > F64_EPS:  # the uniform float64 grid the lower-precision times stand for
        t = t[0] + dt * np.arange(t.shape[0])
    return t, dt


def sigma_array(sigma: Any, shape: tuple[int, int, int], *, share: bool = False
                ) -> tuple[np.ndarray, bool]:
    """σ as a float64 array of `shape`, and whether it is the default: None → 0.01
    everywhere, a scalar → filled, else an array of `shape`.

    Its values are checked here (finite, > 0; indices as given) unless `share` and σ is an
    array: one process's rows, whose values `validate_data` checks on the global array, at
    global indices.
    """
    if sigma is None:
        return np.full(shape, DEFAULT_SIGMA), True
    sig = require_real_array("sigma", sigma)
    check = not share or sig.ndim == 0
    if check:
        first_non_finite("sigma", sig)
    if sig.ndim == 0:
        sig = np.full(shape, float(sig))
    if sig.shape != shape:
        expected = "this process's share" if share else "shape"
        raise ValueError(f"sigma: expected a scalar or {expected} {shape}, got {sig.shape}")
    if check and np.any(sig <= 0):
        raise ValueError(f"sigma: must be > 0, found min {float(sig.min())!r}")
    return sig, False
