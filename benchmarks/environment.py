"""The environment block recorded with every benchmark: versions, device, memory, peaks."""

from __future__ import annotations

import functools
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

DEVICE_ENV = "XPCSFIT_BENCH_DEVICE"
"""Environment variable carrying the `--device` choice to suite subprocesses."""


@functools.cache
def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (falls back to `platform`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_facts() -> list[dict[str, Any]]:
    """Kind, platform and (where the backend reports them) memory stats of each JAX device."""
    import jax

    facts = []
    for d in jax.devices():
        stats = d.memory_stats() or {}
        facts.append({"id": d.id, "platform": d.platform, "kind": d.device_kind,
                      "memory_stats": {k: v for k, v in stats.items()
                                       if k in ("bytes_limit", "bytes_in_use",
                                                "peak_bytes_in_use")} or None})
    return facts


def environment(with_peaks: bool = True) -> dict[str, Any]:
    """Versions and machine facts recorded with every benchmark (peaks measured once per process)."""
    import jax
    import jaxlib
    import numpy

    env = {
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": numpy.__version__,
        "device_requested": os.environ.get(DEVICE_ENV, "default"),
        "backend": jax.default_backend(),
        "devices": device_facts(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    if with_peaks:
        from benchmarks.machine import peak_rates

        env["peaks"] = peak_rates()
    return env
