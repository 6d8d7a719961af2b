"""Shared benchmark utilities: timing, memory, Markdown tables and the results writer.

Every suite writes `benchmarks/results/<suite>.json` (`results/quick/` for `--quick`) with
`write_results`; the schema
(SCHEMA_VERSION) is documented in benchmarks/README.md:

    {"schema_version": int, "suite": str, "environment": {...}, "cases": [{...}], "table": str}

and the same table as `<suite>.md` beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.environment import environment  # suites import it from here

RESULTS = Path(__file__).resolve().parent / "results"
RESULTS_ENV = "XPCSFIT_BENCH_RESULTS"
"""Environment variable overriding the results folder (`--quick` runs use results/quick)."""
SCHEMA_VERSION = 2
REQUIRED_KEYS = ("schema_version", "suite", "environment", "cases", "table")


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far (GiB).

    Linux: VmHWM of /proc/self/status, the high-water mark of this program's own memory.
    Not ru_maxrss: across fork + exec that inherits the parent's peak, so a case process
    started from a large parent would report the parent's memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def device_peak_gb() -> float | None:
    """Peak bytes in use on the default device (GiB), where the backend reports it (GPU)."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 1024**3


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


def markdown_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """Rows as a Markdown table; columns are (key, header, format spec); None prints as —."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = ["—" if row.get(key) is None else format(row[key], spec)
                 for key, _, spec in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """Print and return `markdown_table(rows, columns)`."""
    text = markdown_table(rows, columns)
    print(text, flush=True)
    return text


_CACHE_KEYS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
               "jax_persistent_cache_min_entry_size_bytes")


@contextlib.contextmanager
def compile_cache(folder: Path) -> Iterator[Path]:
    """JAX's persistent compilation cache in `folder` (`xpcsfit.enable_compile_cache`) for
    the block, then the previous settings again. A cached executable hides compile time:
    use it only around warm-only measurements, and say so in the results."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    import xpcsfit

    before = {key: getattr(jax.config, key) for key in _CACHE_KEYS}
    xpcsfit.enable_compile_cache(folder)
    try:
        yield folder
    finally:
        for key, value in before.items():
            jax.config.update(key, value)
        compilation_cache.reset_cache()


def check_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Return payload if it has the schema's keys and types, else raise ValueError naming the gap."""
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"results: missing keys {missing}")
    if not isinstance(payload["cases"], list) or not all(isinstance(c, dict)
                                                         for c in payload["cases"]):
        raise ValueError("results: 'cases' must be a list of objects")
    return payload


def results_dir() -> Path:
    """Where results are written and read: $XPCSFIT_BENCH_RESULTS, else benchmarks/results."""
    return Path(os.environ.get(RESULTS_ENV) or RESULTS)


def json_default(value: Any) -> Any:
    """`json.dumps` fallback for numpy scalars and arrays."""
    return value.tolist() if hasattr(value, "tolist") else float(value)


def write_json(name: str, payload: dict[str, Any], folder: Path | None = None) -> Path:
    """Write results/<name>.json and results/<name>.md from a payload with "cases" and "table".

    Missing "schema_version", "suite" (= name) and "environment" (the current one) are
    filled in; the document is checked against the schema before it is written.
    """
    full = {"schema_version": SCHEMA_VERSION, "suite": name, **payload}
    if "environment" not in full:
        full["environment"] = environment()
    check_payload(full)
    folder = results_dir() if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(full, indent=2, default=json_default, ensure_ascii=False) + "\n")
    (folder / f"{name}.md").write_text(full["table"] + "\n")
    return path


def write_results(suite: str, cases: list[dict[str, Any]], table: str) -> Path:
    """Write a suite's cases and table (with the current environment) and say where."""
    path = write_json(suite, {"cases": cases, "table": table})
    print(f"wrote {path}", flush=True)
    return path


def read_results(suite: str, folder: Path | None = None) -> dict[str, Any] | None:
    """The stored results of `suite`, or None if there are none."""
    path = (results_dir() if folder is None else folder) / f"{suite}.json"
    return check_payload(json.loads(path.read_text())) if path.exists() else None
