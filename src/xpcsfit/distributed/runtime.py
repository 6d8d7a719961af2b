"""Start JAX's multi-controller runtime for a multi-process fit, and make sure a process
that never arrives or stops responding ends the others within a timeout, with one line.

Every process runs the same fit on its share of the (t1, t2) pairs; the sums of each data
pass are combined with collectives (gloo on CPU), so every process holds the same solver
state. JAX cannot cancel a collective whose peer is gone, so a lost peer would leave the
others waiting (or aborting later with a C++ stack trace): a watchdog thread exchanges
heartbeats through the coordination service's key-value store and, when a peer has been
silent for `timeout` seconds, writes one line to stderr and ends the process with exit
code `EXIT_LOST`.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

import jax

from .settings import DistributedError, DistributedSettings

logger = logging.getLogger(__name__)

EXIT_LOST = 4
"""Exit code of a process whose peer never arrived or stopped responding."""
MARGIN = 30
"""Seconds JAX's own deadlines (connection, heartbeat) exceed ours, so ours fire first."""


def exit_with_line(line: str) -> None:
    """Write ``xpcsfit: error: <line>`` to stderr and end the process (`EXIT_LOST`).

    Writes to file descriptor 2 directly: the main thread may be blocked inside a
    collective, and `os._exit` skips the interpreter shutdown that would wait for it."""
    os.write(2, f"xpcsfit: error: {line}\n".encode())
    os._exit(EXIT_LOST)


@dataclasses.dataclass
class Runtime:
    """A started multi-process runtime: its settings and heartbeat watchdog. `stop` it when
    this process's part of the job is done. A process that exits without `stop` (an error)
    ends at once with `exit_code` (default 1), skipping JAX's shutdown barrier, which would
    wait for the peers that wait for it; its silence then ends the peers (`EXIT_LOST`)."""

    settings: DistributedSettings
    watchdog: Watchdog | None
    exit_code: int = 1
    finished: bool = False

    @property
    def is_writer(self) -> bool:
        """True on process 0, the one that writes the results."""
        return self.settings.process_id == 0

    def stop(self) -> None:
        self.finished = True
        if self.watchdog is not None:
            self.watchdog.stop()

    def _at_exit(self) -> None:
        """atexit hook (runs before JAX's teardown): an unfinished process leaves now."""
        if self.finished:
            return
        if self.watchdog is not None:
            self.watchdog.halt()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(self.exit_code)


def initialize(settings: DistributedSettings,
               on_lost: Callable[[str], None] = exit_with_line) -> Runtime:
    """Join the multi-process job `settings` describes: `jax.distributed.initialize` (gloo
    collectives on CPU), bounded by `settings.timeout` [s]; then a heartbeat watchdog.

    Call it before any other JAX computation in the process. `on_lost(line)` is called
    (from a watchdog thread) when the coordinator cannot be reached or a process stays
    silent longer than the timeout; the default writes the line and exits (`EXIT_LOST`).
    """
    if not isinstance(settings, DistributedSettings):
        raise ValueError(f"settings: expected DistributedSettings, got "
                         f"{type(settings).__name__}")
    s = settings
    if s.num_processes == 1:
        return Runtime(s, None)
    if jax.config.jax_platforms in (None, "", "cpu") or "cpu" in str(jax.config.jax_platforms):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    waiting = f"process {s.process_id} of {s.num_processes}"
    timer = threading.Timer(s.timeout, on_lost, args=(
        f"{waiting}: the other processes did not all reach the coordinator {s.coordinator} "
        f"within {s.timeout:g} s (XPCSFIT_TIMEOUT); is every process started, and is "
        f"process 0 running there?",))
    timer.daemon = True
    timer.start()
    try:
        jax.distributed.initialize(
            s.coordinator, s.num_processes, s.process_id,
            initialization_timeout=int(s.timeout) + MARGIN,
            heartbeat_timeout_seconds=int(s.timeout) + MARGIN)
    except Exception as err:  # JAX's own errors: already initialised, bad address, …
        raise DistributedError(f"{waiting}: cannot join the job at {s.coordinator}: "
                               f"{' '.join(str(err).split())[:300]}") from None
    finally:
        timer.cancel()
    logger.info("joined %d processes as %d (coordinator %s, %d global devices)",
                s.num_processes, s.process_id, s.coordinator, jax.device_count())
    from jax._src import distributed  # the runtime's key-value client (no public handle)

    watchdog = Watchdog(distributed.global_state.client, s, on_lost)
    watchdog.start()
    runtime = Runtime(s, watchdog)
    atexit.register(runtime._at_exit)
    return runtime


class Watchdog(threading.Thread):
    """Heartbeats through the coordination service: each process bumps its key every
    `interval` seconds and watches the others'; a peer silent for `timeout` seconds (and
    not finished), or a coordinator unreachable that long, calls `on_lost`."""

    def __init__(self, client, settings: DistributedSettings, on_lost: Callable[[str], None]):
        super().__init__(name="xpcsfit-watchdog", daemon=True)
        self.client, self.s, self.on_lost = client, settings, on_lost
        self.interval = min(max(settings.timeout / 6.0, 0.1), 5.0)
        self._halt = threading.Event()

    def _key(self, kind: str, pid: int) -> str:
        return f"xpcsfit/{kind}/{pid}"

    def run(self) -> None:
        me, n, timeout = self.s.process_id, self.s.num_processes, self.s.timeout
        now = time.monotonic()
        seen = {p: (None, now) for p in range(n) if p != me}
        contact, beat = now, 0
        while not self._halt.wait(self.interval):
            now = time.monotonic()
            try:
                self.client.key_value_set(self._key("beat", me), str(beat), allow_overwrite=True)
                beat += 1
                for p, (value, since) in list(seen.items()):
                    if self._try(self._key("done", p)) is not None:
                        del seen[p]
                        continue
                    current = self._try(self._key("beat", p))
                    if current != value:
                        seen[p] = (current, now)
                    elif now - since > timeout:
                        self.on_lost(f"process {p} of {n} stopped responding (no heartbeat "
                                     f"for {timeout:g} s, XPCSFIT_TIMEOUT); process {me} "
                                     f"exits")
                        return
                contact = now
            except Exception as err:  # the coordinator (process 0) is gone or unreachable
                if now - contact > timeout:
                    self.on_lost(f"process {me} of {n} lost the coordinator "
                                 f"{self.s.coordinator} for {timeout:g} s "
                                 f"({' '.join(str(err).split())[:120]}); exiting")
                    return

    def _try(self, key: str) -> str | None:
        try:
            return self.client.key_value_try_get(key)
        except Exception as err:
            if "NOT_FOUND" in str(err) or "not found" in str(err).lower():
                return None
            raise

    def halt(self) -> None:
        """End the heartbeats without marking this process finished (peers see silence)."""
        self._halt.set()

    def stop(self) -> None:
        """Mark this process finished (peers stop watching it) and end the thread."""
        self._halt.set()
        try:
            self.client.key_value_set(self._key("done", self.s.process_id), "1",
                                      allow_overwrite=True)
        except Exception as err:  # the job is ending anyway; nothing to recover
            logger.debug("watchdog: could not mark process done (%s)", err)
