"""Where a process of a multi-process fit finds the others: coordinator, process count and
id, from arguments or the environment.

Variables, first match wins: ``XPCSFIT_COORDINATOR`` (host:port of process 0's
coordination service), ``XPCSFIT_NUM_PROCESSES``, ``XPCSFIT_PROCESS_ID``; under SLURM
(``SLURM_NTASKS`` set) the count is ``SLURM_NTASKS``, the id ``SLURM_PROCID`` and the
coordinator the first host of ``SLURM_STEP_NODELIST`` (or ``SLURM_JOB_NODELIST``) at port
``XPCSFIT_PORT`` (default 12355). ``XPCSFIT_TIMEOUT`` [s] bounds the wait for a process
that never arrives or stops responding (default 120).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping

DEFAULT_PORT = 12355
DEFAULT_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class DistributedSettings:
    """One process's place in a multi-process fit.

    Fields: `coordinator` ("host:port" of process 0), `num_processes` (≥ 1), `process_id`
    (0 … num_processes − 1), `timeout` [s] (> 0: how long the others wait for a process
    that never arrives or stops responding before they exit), `source` (where the values
    came from: "arguments", "XPCSFIT" or "SLURM")."""

    coordinator: str
    num_processes: int
    process_id: int
    timeout: float = DEFAULT_TIMEOUT
    source: str = "arguments"

    def __post_init__(self):
        if not isinstance(self.coordinator, str) or not re.fullmatch(r"[^\s:]+:\d{1,5}",
                                                                    self.coordinator):
            raise ValueError(f"coordinator: expected 'host:port', got {self.coordinator!r}")
        port = int(self.coordinator.rsplit(":", 1)[1])
        if not 1 <= port <= 65535:
            raise ValueError(f"coordinator: port must be in 1..65535, got {port}")
        n, i = self.num_processes, self.process_id
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"num_processes: expected an integer >= 1, got {n!r}")
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n:
            raise ValueError(f"process_id: expected an integer in 0..{n - 1}, got {i!r}")
        t = self.timeout
        if isinstance(t, bool) or not isinstance(t, int | float) or not (math.isfinite(t)
                                                                          and t > 0):
            raise ValueError(f"timeout: expected seconds > 0, got {t!r}")


def _int(env: Mapping[str, str], name: str) -> int:
    text = env[name].strip()
    if not re.fullmatch(r"\d+", text):
        raise ValueError(f"{name}: expected a non-negative integer, got {env[name]!r}")
    return int(text)


def _timeout(env: Mapping[str, str]) -> float:
    text = env.get("XPCSFIT_TIMEOUT")
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"XPCSFIT_TIMEOUT: expected seconds > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"XPCSFIT_TIMEOUT: expected seconds > 0, got {text!r}")
    return value


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: "gpu[03-05,09],cpu1" → "gpu03"."""
    text = nodelist.strip()
    m = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", text)
    if not m or not m.group(1):
        raise ValueError(f"SLURM_STEP_NODELIST: cannot read a host from {nodelist!r}")
    prefix, ranges = m.group(1), m.group(2)
    if ranges is None:
        return prefix
    first = re.match(r"(\d+)", ranges)
    if first is None:
        raise ValueError(f"SLURM_STEP_NODELIST: cannot read a host from {nodelist!r}")
    return prefix + first.group(1)


def settings_from_env(env: Mapping[str, str]) -> DistributedSettings:
    """`DistributedSettings` from XPCSFIT_* variables, else SLURM's (see the module doc);
    ValueError naming the variable that is missing or malformed."""
    timeout = _timeout(env)
    names = ("XPCSFIT_COORDINATOR", "XPCSFIT_NUM_PROCESSES", "XPCSFIT_PROCESS_ID")
    if any(k in env for k in names[1:]) or ("XPCSFIT_COORDINATOR" in env
                                           and "SLURM_NTASKS" not in env):
        missing = [k for k in names if k not in env]
        if missing:
            raise ValueError(f"{missing[0]}: not set (a multi-process fit needs "
                             f"{', '.join(names)})")
        return DistributedSettings(env["XPCSFIT_COORDINATOR"].strip(),
                                   _int(env, "XPCSFIT_NUM_PROCESSES"),
                                   _int(env, "XPCSFIT_PROCESS_ID"), timeout, "XPCSFIT")
    if "SLURM_NTASKS" in env:
        if "SLURM_PROCID" not in env:
            raise ValueError("SLURM_PROCID: not set (run the processes with srun)")
        coordinator = env.get("XPCSFIT_COORDINATOR")
        if coordinator is None:
            nodes = env.get("SLURM_STEP_NODELIST", env.get("SLURM_JOB_NODELIST"))
            if not nodes:
                raise ValueError("SLURM_STEP_NODELIST: not set; set XPCSFIT_COORDINATOR")
            port = _int(env, "XPCSFIT_PORT") if "XPCSFIT_PORT" in env else DEFAULT_PORT
            coordinator = f"{first_host(nodes)}:{port}"
        return DistributedSettings(coordinator.strip(), _int(env, "SLURM_NTASKS"),
                                   _int(env, "SLURM_PROCID"), timeout, "SLURM")
    raise ValueError("XPCSFIT_COORDINATOR: not set, and no SLURM job found (set "
                     "XPCSFIT_COORDINATOR, XPCSFIT_NUM_PROCESSES, XPCSFIT_PROCESS_ID)")


class DistributedError(RuntimeError):
    """A multi-process job could not start or lost a process (the CLI: one line, exit 4)."""
