"""Run a multi-process job on this machine (for testing and benchmarks): the same command
in `n` processes, coordinator on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class ProcessOutcome:
    """Exit code (None: killed at the deadline), stdout and stderr of one process."""

    returncode: int | None
    stdout: str
    stderr: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_local(argv: Sequence[str], n: int, *, deadline: float = 600.0,
                 env: Mapping[str, str] | None = None, timeout: float | None = None,
                 start: Sequence[int] | None = None) -> list[ProcessOutcome]:
    """Run `argv` as processes 0..n−1 of one job (XPCSFIT_COORDINATOR on a free local port,
    XPCSFIT_NUM_PROCESSES, XPCSFIT_PROCESS_ID; `timeout` → XPCSFIT_TIMEOUT [s]) and wait;
    processes still running after `deadline` seconds are killed (returncode None).
    `start` lists the ids actually started (default all): the others never arrive."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected an integer >= 1, got {n!r}")
    base = dict(os.environ if env is None else env)
    base.update(XPCSFIT_COORDINATOR=f"127.0.0.1:{free_port()}", XPCSFIT_NUM_PROCESSES=str(n))
    if timeout is not None:
        base["XPCSFIT_TIMEOUT"] = f"{timeout:g}"
    ids = list(range(n)) if start is None else [int(i) for i in start]
    with tempfile.TemporaryDirectory() as tmp:  # files, not pipes: no process blocks on output
        files = {i: (open(f"{tmp}/{i}.out", "w+"), open(f"{tmp}/{i}.err", "w+")) for i in ids}
        procs = {i: subprocess.Popen(list(argv), env={**base, "XPCSFIT_PROCESS_ID": str(i)},
                                     stdout=files[i][0], stderr=files[i][1], text=True)
                 for i in ids}
        end = time.monotonic() + deadline
        codes = {}
        for i in ids:
            try:
                codes[i] = procs[i].wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                procs[i].kill()
                procs[i].wait()
                codes[i] = None
        out = []
        for i in ids:
            texts = []
            for f in files[i]:
                f.seek(0)
                texts.append(f.read())
                f.close()
            out.append(ProcessOutcome(codes[i], *texts))
    return out
