"""Shared benchmark utilities: timing, peak RSS, environment facts, table and JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far (GiB; ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run fn once; return its value and the wall time (s)."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def median_time(fn: Callable[[], Any], repeats: int = 3) -> tuple[Any, float, list[float]]:
    """Median wall time of `repeats` runs (the value of the last run is returned)."""
    times, value = [], None
    for _ in range(repeats):
        value, seconds = timed(fn)
        times.append(seconds)
    return value, statistics.median(times), times


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every benchmark."""
    import jax
    import jaxlib
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": numpy.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """Print rows as a Markdown table; columns are (key, header, format spec)."""
    header = "| " + " | ".join(h for _, h, _ in columns) + " |"
    lines = [header, "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = []
        for key, _, spec in columns:
            value = row.get(key)
            cells.append("—" if value is None else format(value, spec))
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write benchmarks/results/<name>.json (schema: {"environment", "cases": [...]})."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path
