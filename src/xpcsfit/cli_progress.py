"""What `xpcsfit fit` shows while it runs: the library's log (--verbose) and the
per-iteration progress of a fit."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any, TextIO


def verbose_logging(verbosity: int) -> logging.Handler | None:
    """--verbose: the `xpcsfit` logger at INFO (-vv: DEBUG) on stderr for this command.
    Without it the logging setup is Python's default (warnings only)."""
    if not verbosity:
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("xpcsfit: %(levelname)s: %(name)s: %(message)s"))
    logger = logging.getLogger("xpcsfit")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbosity == 1 else logging.DEBUG)
    return handler


class Progress:
    """Per-iteration progress on `stream` once a fit has run for `delay` seconds: iteration,
    cost, step, elapsed time and, when the iteration limit is known, an upper bound on the
    time left. Call it as the fit's callback. A fit runs several solves (recovery and
    screened attempts, the defense layers' block solves, the final solve); each restarts
    its iteration count, and the line then names the solve ("solve 4"), so long layered
    fits show where they are."""

    def __init__(self, stream: TextIO, max_iterations: int | None = None, delay: float = 1.0,
                 interval: float = 0.2):
        self.stream, self.max_iterations = stream, max_iterations
        self.delay, self.interval = delay, interval
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.t0 = time.perf_counter()
        self.last, self.shown = 0.0, False
        self.first: tuple[int, float] | None = None
        self.solves, self.previous = 1, -1

    def __call__(self, *args: Any) -> None:
        phase = ""
        if args and isinstance(args[0], str):  # streaming warmup: (phase, iteration, loss)
            phase, args = args[0] + " ", args[1:]
        iteration, cost = int(args[0]), float(args[1])
        step = f"  step {float(args[2]):.2e}" if len(args) > 2 else ""
        now = time.perf_counter()
        if iteration < self.previous:
            self.solves += 1  # a new solve restarted the count
        self.previous = iteration
        if self.first is None or iteration < self.first[0]:
            self.first = (iteration, now)  # rate from here on: compilation excluded
        elapsed = now - self.t0
        if elapsed < self.delay or now - self.last < self.interval:
            return
        self.last, self.shown = now, True
        eta = ""
        done = iteration - self.first[0]
        if self.max_iterations and not phase and done > 0:
            rate = (now - self.first[1]) / done
            eta = f"  ETA ≤ {max(self.max_iterations - iteration - 1, 0) * rate:.0f} s"
        solve = f"solve {self.solves} " if self.solves > 1 else ""
        line = f"  {phase}{solve}iteration {iteration:4d}  cost {cost:.6e}{step}  {elapsed:6.1f} s{eta}"
        self.stream.write(("\r" + line.ljust(88)) if self.tty else line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the progress line (a newline on a terminal)."""
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()


LONG_FIT_POINTS = 5_000_000
"""Fits at least this large show per-iteration progress even with the compilation cache on
(their fit phase, not the compile, is what a user waits for)."""


def show_progress(args: argparse.Namespace, cfg: Any, n_points: int) -> bool:
    """Per-iteration progress needs a host callback inside the compiled fit, and JAX does
    not cache programs with host callbacks. So: progress when the cache is off, and for
    the fits that run long anyway (≥ LONG_FIT_POINTS points, streamed data, or the
    hierarchical / regularization / shear-weighting layers); never with --quiet."""
    if args.quiet:
        return False
    d = cfg.defense
    slow_layers = d.enable and (d.hierarchical.enable or d.regularization.enable
                                or d.shear_weighting.enable)
    return (getattr(args, "cache_dir", None) is None or n_points >= LONG_FIT_POINTS
            or cfg.strategy.name == "hybrid_streaming" or slow_layers)


def run_fit(args: Any, data: Any, config: Any, say: Any, where: str = "",
            callback: Any = None) -> Any:
    """The fit `fit` asks for: from `--multistart N` Latin-hypercube starts, else one fit
    (with the progress `callback`), said first; `where`, e.g. " on 2 processes"."""
    import xpcsfit

    mode = config.analysis_mode
    if args.multistart:
        say(f"fitting {mode} from {args.multistart} Latin-hypercube starts{where} …")
        return xpcsfit.fit_nlsq_multistart(data, config, n_starts=args.multistart)
    say(f"fitting {mode}{where or ' (the first fit of a shape compiles)'} …")
    return xpcsfit.fit(data, config, callback=callback)
