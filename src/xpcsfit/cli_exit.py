"""How an `xpcsfit` command ends: its exit codes, the one-line messages it prints, and
Ctrl-C (the first interrupt is remembered even if a library swallows it)."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

USER_ERRORS = (ValueError, ImportError, OSError)
EXIT_OK, EXIT_INTERNAL, EXIT_USER, EXIT_NOT_GOOD, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_LOST = 4  # = distributed.runtime.EXIT_LOST (that module imports JAX)
EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}    success (fit: the result's quality is "good")
  {EXIT_INTERNAL}    internal error, a bug: please report it (XPCSFIT_TRACEBACK=1 shows the traceback)
  {EXIT_USER}    user error: bad option, config, data file or output folder (one line on stderr)
  {EXIT_NOT_GOOD}    fit: it ran and wrote its results, but their quality is not "good"
       (marginal or poor; see quality_flag in parameters.json)
  {EXIT_LOST}    fit --distributed: a process never arrived or stopped responding within
       XPCSFIT_TIMEOUT seconds, or the job could not start (one line on stderr)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C): nothing partial is left in the output folder
"""


def echo(*parts: Any, stream: TextIO | None = None) -> None:
    """print, flushed, on `stream` (default: standard output)."""
    print(*parts, file=stream or sys.stdout, flush=True)


class Interrupt:
    """The SIGINT handler while a command runs: the first Ctrl-C raises KeyboardInterrupt
    and is remembered (a library may swallow the exception, e.g. inside a JAX callback);
    a second one ends the process at once."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count > 1:
            echo("xpcsfit: interrupted", stream=sys.stderr)
            os._exit(EXIT_INTERRUPTED)
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed (even if it was swallowed)."""
        if self.count:
            raise KeyboardInterrupt


def exit_code(result: Any, echo: Any) -> int:
    """EXIT_OK for a "good" result, else EXIT_NOT_GOOD after one line saying why."""
    if result.quality_flag != "good":
        why = "; ".join(result.quality_reasons)
        echo(f"xpcsfit: result not good: quality = {result.quality_flag}, status = "
             f"{result.convergence_status}{': ' + why if why else ''} "
             f"(exit code {EXIT_NOT_GOOD})", stream=sys.stderr)
        return EXIT_NOT_GOOD
    return EXIT_OK



def interrupted() -> int:
    echo("xpcsfit: interrupted", stream=sys.stderr)
    return EXIT_INTERRUPTED
