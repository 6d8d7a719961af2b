"""Peak-memory estimate, RAM detection and the strategy decision tree (DESIGN §5)."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

BYTES_PER_GB = 1024**3
DEFAULT_MEMORY_FRACTION = 0.75
FALLBACK_RAM_GB = 16.0
STANDARD_MAX_POINTS = 1_000_000
# Multiples of the Jacobian's size a full-Jacobian solve holds at its peak.
PEAK_FACTORS = {
    "jacobian": 1.0,
    "autodiff": 2.0,
    "padding": 1.5,
    "compilation_buffers": 1.5,
    "solver_work": 0.5,
}
PEAK_FACTOR = sum(PEAK_FACTORS.values())  # 6.5


def estimate_peak_memory_gb(n_points: int, n_params: int) -> float:
    """Peak memory (GiB) of a full-Jacobian fit: n_points·n_params·8 B·6.5.

    The 6.5 is the sum of `PEAK_FACTORS`: the Jacobian itself, autodiff temporaries,
    padding, compilation buffers and solver work.
    """
    if int(n_points) < 0 or int(n_params) < 0:
        raise ValueError(f"n_points/n_params: must be >= 0, got {n_points!r}, {n_params!r}")
    return int(n_points) * int(n_params) * 8 * PEAK_FACTOR / BYTES_PER_GB


def total_ram_gb() -> tuple[float, str]:
    """Total RAM (GiB) and where it came from: psutil → os.sysconf → 16 GiB."""
    try:
        import psutil

        return psutil.virtual_memory().total / BYTES_PER_GB, "psutil"
    except Exception:  # noqa: BLE001 - any failure falls through to the next source
        logger.debug("psutil unavailable for RAM detection", exc_info=True)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / BYTES_PER_GB, "sysconf"
    except (ValueError, OSError, AttributeError):
        return FALLBACK_RAM_GB, "default"


def memory_fraction(configured: float | None = None) -> float:
    """Fraction of RAM a fit may use: config, else env XPCSFIT_MEMORY_FRACTION, else
    NLSQ_MEMORY_FRACTION, else 0.75; clamped to [0.1, 0.9]."""
    value = configured
    if value is None:
        for var in ("XPCSFIT_MEMORY_FRACTION", "NLSQ_MEMORY_FRACTION"):
            raw = os.environ.get(var)
            if raw is not None:
                try:
                    value = float(raw)
                except ValueError:
                    raise ValueError(f"{var}: expected a number, got {raw!r}") from None
                break
    if value is None:
        value = DEFAULT_MEMORY_FRACTION
    return min(max(float(value), 0.1), 0.9)


def select_strategy(
    n_points: int,
    n_params: int,
    *,
    memory_fraction_value: float | None = None,
    ram_gb: float | None = None,
) -> tuple[str, dict]:
    """Choose "standard", "out_of_core" or "hybrid_streaming" (DESIGN §5).

    peak ≤ threshold → standard if n_points < 1M else out_of_core; peak > threshold →
    hybrid_streaming if the index memory (8 B per point) exceeds the threshold, else
    out_of_core. `n_params` is the effective (free) parameter count.

    **Returns:** the strategy and a dict of the numbers behind the decision.
    """
    source = "argument"
    if ram_gb is None:
        ram_gb, source = total_ram_gb()
    fraction = memory_fraction(memory_fraction_value)
    threshold = ram_gb * fraction
    peak = estimate_peak_memory_gb(n_points, n_params)
    index_gb = int(n_points) * 8 / BYTES_PER_GB
    if peak <= threshold:
        strategy = "standard" if n_points < STANDARD_MAX_POINTS else "out_of_core"
    else:
        strategy = "hybrid_streaming" if index_gb > threshold else "out_of_core"
    info = {
        "peak_memory_gb": peak,
        "threshold_gb": threshold,
        "ram_gb": ram_gb,
        "ram_source": source,
        "memory_fraction": fraction,
        "index_memory_gb": index_gb,
    }
    return strategy, info
