"""The `xpcsfit` command line: fit, simulate, config, demo.

Errors print one line on stderr; exit codes (also in `xpcsfit --help`):
0 success (fit: result quality "good"), 1 internal error, 2 user error (bad option,
config, data file or output folder, missing extra), 3 the fit ran and wrote its results
but their quality is not "good", 130 interrupted (Ctrl-C), with nothing partial left.
Library warnings print one line each.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any, NoReturn, TextIO

from . import cli_distributed, cli_many
from .distributed.settings import DistributedError
from .fitting.config import STRATEGIES
from .physics.g2 import CONVENTIONS, MODES

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


class _Interrupt:
    """The SIGINT handler while a command runs: the first Ctrl-C raises KeyboardInterrupt
    and is remembered (a library may swallow the exception, e.g. inside a JAX callback);
    a second one ends the process at once."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count > 1:
            _echo("xpcsfit: interrupted", stream=sys.stderr)
            os._exit(EXIT_INTERRUPTED)
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed (even if it was swallowed)."""
        if self.count:
            raise KeyboardInterrupt


def _echo(*parts: Any, stream: TextIO | None = None) -> None:
    print(*parts, file=stream or sys.stdout, flush=True)


def _logging(verbosity: int) -> logging.Handler | None:
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


def _set(tree: dict, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        node = tree.get(key)
        if not isinstance(node, dict):
            node = tree[key] = {}
        tree = node
    tree[leaf] = value


def _cmd_fit(args: argparse.Namespace, interrupt: _Interrupt) -> int:
    from .io.paths import prepare_output_dir
    from .io.yaml_config import config_from_dict, read_config_file

    runtime = args.runtime = cli_distributed.start(args) if args.distributed else None
    cli_many.start_cache(args, _echo)
    cfg_path = Path(args.config)
    raw = copy.deepcopy(read_config_file(cfg_path))
    if args.strategy:
        _set(raw, "optimization.nlsq.strategy", args.strategy)
    if args.convention:
        _set(raw, "physics.convention", args.convention)
    loaded = config_from_dict(raw, cfg_path.parent, cfg_path)
    if args.multistart is not None and args.multistart < 1:
        raise ValueError(f"--multistart: must be >= 1, got {args.multistart}")
    out = Path(args.output_dir)
    created = prepare_output_dir(out, "--output-dir")  # before the data are loaded
    try:
        if runtime is not None:
            if cli_many.wants_many(args):
                raise ValueError("--distributed: fits one q-bin (set "
                                 "analyzer_parameters.scattering.wavevector_q)")
            return cli_distributed.run(args, loaded, raw, out, runtime, _echo, _exit_code)
        return _fit_and_write(args, loaded, raw, out, interrupt)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if still empty: nothing of this run is left
        raise


def _fit_and_write(args: argparse.Namespace, loaded: Any, raw: dict, out: Path,
                   interrupt: _Interrupt) -> int:
    import xpcsfit

    from .io.dataset import load_dataset
    from .io.results import summary_lines, write_results

    if cli_many.wants_many(args):
        return cli_many.run_many(args, loaded, raw, out, interrupt, _echo, _plots, EXIT_OK,
                                 EXIT_NOT_GOOD)
    data, dataset = load_dataset(loaded, args.data, data_field="--data")
    _echo(f"data: {dataset['file']} ({dataset['layout']}), q = {dataset['q']:g} Å⁻¹ "
          f"(config {dataset['q_requested']}), frames {dataset['start_frame']}.."
          f"{dataset['end_frame']}, {data.n_phi} angles × {data.n_t}² = {data.n_points:,} points")
    interrupt.check()
    progress = Progress(sys.stderr, loaded.fit.solver.max_nfev) if _show_progress(
        args, loaded.fit, data.n_points) else None
    if args.multistart:
        _echo(f"fitting {loaded.fit.analysis_mode} from {args.multistart} Latin-hypercube "
              f"starts …")
        result = xpcsfit.fit_nlsq_multistart(data, loaded.fit, n_starts=args.multistart)
    else:
        _echo(f"fitting {loaded.fit.analysis_mode} (the first fit of a shape compiles) …")
        result = xpcsfit.fit(data, loaded.fit, callback=progress)
    if progress is not None:
        progress.finish()
    interrupt.check()  # an interrupt swallowed inside the fit still stops here
    for line in summary_lines(result):
        _echo(line)
    _echo(f"time: {result.execution_time:.2f} s")
    paths = write_results(out, result, data, loaded.fit, dataset=dataset, config_echo=raw)
    interrupt.check()
    figures = _plots(out, args.no_plots)
    _echo(f"wrote {', '.join(str(p) for p in paths.values())}"
          + (f" and {len(figures)} figures" if figures else ""))
    return _exit_code(result, _echo)


def _exit_code(result: Any, echo: Any) -> int:
    """EXIT_OK for a "good" result, else EXIT_NOT_GOOD after one line saying why."""
    if result.quality_flag != "good":
        why = "; ".join(result.quality_reasons)
        echo(f"xpcsfit: result not good: quality = {result.quality_flag}, status = "
             f"{result.convergence_status}{': ' + why if why else ''} "
             f"(exit code {EXIT_NOT_GOOD})", stream=sys.stderr)
        return EXIT_NOT_GOOD
    return EXIT_OK


LONG_FIT_POINTS = 5_000_000
"""Fits at least this large show per-iteration progress even with the compilation cache on
(their fit phase, not the compile, is what a user waits for)."""


def _show_progress(args: argparse.Namespace, cfg: Any, n_points: int) -> bool:
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


def _plots(out: Path, skip: bool) -> list[Path]:
    """The figures: a second commit after the results, so a figure that fails to draw
    loses no result."""
    from .io._optional import available

    if skip:
        return []
    if not available("matplotlib"):
        _echo("note: matplotlib not installed, no figures (pip install 'xpcsfit[plot]')",
              stream=sys.stderr)
        return []
    from .io.plots import plot_results

    try:
        return plot_results(out)
    except Exception as err:  # the results are written; a figure is not worth losing them
        _echo(f"xpcsfit: warning: figures not drawn: {type(err).__name__}: {_one_line(err)}",
              stream=sys.stderr)
        return []


def _cmd_simulate(args: argparse.Namespace, interrupt: _Interrupt) -> int:
    from .demo import demo_problem
    from .io.paths import prepare_output_dir
    from .io.simulated import simulate_files

    if args.n_t < 2 or args.n_phi < 1:
        raise ValueError(f"--n-t/--n-phi: need n_t >= 2 and n_phi >= 1, got {args.n_t}, "
                         f"{args.n_phi}")
    prepare_output_dir(args.output_dir, "--output-dir")
    problem = demo_problem(args.mode, args.n_phi, args.n_t, args.seed)
    if args.noise is not None:
        problem["noise"] = args.noise
    paths = simulate_files(args.output_dir, **problem, n_q=args.n_q)
    _echo(f"wrote {paths['data']} (APS-U layout), {paths['config']} and {paths['truth']}")
    _echo(f"next: xpcsfit fit --config {paths['config']} --output-dir "
          f"{Path(args.output_dir) / 'results'}")
    return EXIT_OK


def _cmd_config(args: argparse.Namespace, interrupt: _Interrupt) -> int:
    from .io.atomic import write_text_atomic
    from .io.template import config_template

    text = config_template(args.mode)
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return EXIT_OK
    path = Path(args.output)
    if path.is_dir():
        raise ValueError(f"--output: {path} is a folder")
    if path.exists() and not args.force:
        raise ValueError(f"--output: {path} exists (use --force to overwrite)")
    try:
        write_text_atomic(path, text)
    except OSError as err:
        raise ValueError(f"--output: cannot write {path}: {err.strerror or err}") from None
    _echo(f"wrote {path}")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace, interrupt: _Interrupt) -> int:
    from .demo import run_demo
    from .io.paths import prepare_output_dir

    prepare_output_dir(args.output_dir, "--output-dir")
    cli_many.start_cache(args, _echo)
    run_demo(write=_echo, output_dir=args.output_dir, plots=not args.no_plots)
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        _echo(f"xpcsfit: error: {self.prog}: {message} (see {self.prog} --help)",
              stream=sys.stderr)
        raise SystemExit(EXIT_USER)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `xpcsfit`."""
    from . import __version__

    parser = _Parser(
        prog="xpcsfit", description="Fit the homodyne two-time XPCS correlation model.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"xpcsfit {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    talk = common.add_mutually_exclusive_group()
    talk.add_argument("-v", "--verbose", action="count", default=0,
                      help="log what the library does (-vv: debug detail) on stderr")
    talk.add_argument("-q", "--quiet", action="store_true",
                      help="print only warnings and errors (the results go to the files)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fit", parents=[common],
                       help="fit the data a YAML config describes and write results",
                       description="Fit the data a YAML config describes and write results "
                       "(all at once, with manifest.json; figures of an earlier run in the "
                       "output folder are removed).", epilog=EXIT_CODES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="homodyne-layout YAML (or JSON) config")
    p.add_argument("--data", help="HDF5 file (APS or APS-U); overrides the config's file")
    p.add_argument("--output-dir", default="xpcsfit-results", help="result directory")
    p.add_argument("--strategy", choices=STRATEGIES, help="override optimization.nlsq.strategy")
    p.add_argument("--convention", choices=CONVENTIONS, help="override physics.convention")
    p.add_argument("--multistart", type=int, metavar="N", help="fit from N Latin-hypercube starts")
    p.add_argument("--no-plots", action="store_true", help="do not draw figures")
    p.add_argument("--distributed", action="store_true",
                   help="one process of a multi-process fit: coordinator, process count and "
                        "id from XPCSFIT_COORDINATOR, XPCSFIT_NUM_PROCESSES, XPCSFIT_PROCESS_ID "
                        "(or SLURM's variables), XPCSFIT_TIMEOUT seconds for a lost process; "
                        "each process reads its rows of c2, process 0 writes the results")
    cli_many.add_fit_options(p)
    p = sub.add_parser("simulate", parents=[common],
                       help="write simulated data (APS-U HDF5) and a matching config")
    p.add_argument("--output-dir", default="xpcsfit-simulated")
    p.add_argument("--mode", choices=MODES, default="laminar_flow")
    p.add_argument("--n-phi", type=int, default=23, help="number of angles")
    p.add_argument("--n-t", type=int, default=200, help="number of frames")
    p.add_argument("--noise", type=float, help="noise standard deviation (default 0.01)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-q", type=int, default=2, help="number of q-bins: q·(1 + 0.3·k)")
    p = sub.add_parser("config", parents=[common], help="write a commented config template")
    p.add_argument("--mode", choices=MODES, default="laminar_flow")
    p.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p = sub.add_parser("demo", parents=[common],
                       help="simulate, load, fit and plot a laminar-flow dataset")
    p.add_argument("--output-dir", default="xpcsfit-demo")
    p.add_argument("--no-plots", action="store_true")
    cli_many.add_cache_option(p)
    return parser


COMMANDS = {"fit": _cmd_fit, "simulate": _cmd_simulate, "config": _cmd_config,
            "demo": _cmd_demo}


@contextlib.contextmanager
def _talk(args: argparse.Namespace):
    """--quiet: this command's reports on stdout are dropped (warnings and errors go to
    stderr as always); a template asked for on stdout is still written."""
    to_stdout = args.command == "config" and args.output in (None, "-")
    if not args.quiet or to_stdout:
        yield
        return
    with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
        yield


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    _echo(f"xpcsfit: warning: {message}", stream=sys.stderr)


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror and err.filename:
        return f"{err.filename}: {err.strerror}"
    return " ".join(str(err).split()) or type(err).__name__


def _interrupted() -> int:
    _echo("xpcsfit: interrupted", stream=sys.stderr)
    return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `xpcsfit` command; returns the exit code (see `EXIT_CODES`).
    Argument errors raise SystemExit(2) after one line on stderr, as argparse does."""
    args = build_parser().parse_args(argv)
    code = _main(args)
    runtime = getattr(args, "runtime", None)
    if runtime is not None:  # a multi-process job's process that did not finish leaves
        runtime.exit_code = code  # with this code (`distributed.Runtime`)
    return code


def _main(args: argparse.Namespace) -> int:
    interrupt = _Interrupt()
    try:
        previous = signal.signal(signal.SIGINT, interrupt)
    except ValueError:  # not the main thread
        previous = None
    try:
        handler = _logging(args.verbose)
        with warnings.catch_warnings(), _talk(args):
            warnings.showwarning = _show_warning
            try:
                code = COMMANDS[args.command](args, interrupt)
            finally:
                if handler is not None:
                    logger = logging.getLogger("xpcsfit")
                    logger.removeHandler(handler)
                    logger.setLevel(logging.NOTSET)
        interrupt.check()
        return code
    except KeyboardInterrupt:
        return _interrupted()
    except MemoryError:
        if interrupt.count:
            return _interrupted()
        _echo("xpcsfit: error: out of memory (for data larger than memory set "
              "optimization.nlsq.strategy: hybrid_streaming)", stream=sys.stderr)
        return EXIT_USER
    except DistributedError as err:
        _echo(f"xpcsfit: error: {_one_line(err)}", stream=sys.stderr)
        return EXIT_LOST
    except USER_ERRORS as err:
        if interrupt.count:
            return _interrupted()
        _echo(f"xpcsfit: error: {_one_line(err)}", stream=sys.stderr)
        return EXIT_USER
    except Exception as err:
        if interrupt.count:
            return _interrupted()
        if os.environ.get("XPCSFIT_TRACEBACK"):
            raise
        _echo(f"xpcsfit: internal error: {type(err).__name__}: {_one_line(err)} (please "
              f"report it; XPCSFIT_TRACEBACK=1 shows the traceback)", stream=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
