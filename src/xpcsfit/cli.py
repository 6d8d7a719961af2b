"""The `xpcsfit` command line: fit, simulate, config, demo.

Errors print one line on stderr; exit codes (`cli_exit`, also in `xpcsfit --help`):
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
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import cli_distributed, cli_many
from .cli_exit import (
    EXIT_CODES,
    EXIT_INTERNAL,
    EXIT_LOST,
    EXIT_NOT_GOOD,
    EXIT_OK,
    EXIT_USER,
    USER_ERRORS,
    Interrupt,
    echo,
    exit_code,
    interrupted,
)
from .cli_progress import Progress, run_fit, show_progress, verbose_logging
from .distributed.settings import DistributedError
from .fitting.config import STRATEGIES
from .physics.g2 import CONVENTIONS, MODES

if TYPE_CHECKING:
    from .distributed.runtime import Runtime  # imports JAX


def _set(tree: dict, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        node = tree.get(key)
        if not isinstance(node, dict):
            node = tree[key] = {}
        tree = node
    tree[leaf] = value


def _cmd_fit(args: argparse.Namespace, interrupt: Interrupt, runtime: Runtime | None = None
             ) -> int:
    """`xpcsfit fit`; `runtime`: the `distributed.Runtime` of the job this process joined
    (--distributed), else None."""
    from .io.paths import prepare_output_dir
    from .io.yaml_config import config_from_dict, read_config_file

    cli_many.start_cache(args, echo)
    cfg_path = Path(args.config)
    raw = copy.deepcopy(read_config_file(cfg_path))
    if args.strategy:
        _set(raw, "optimization.nlsq.strategy", args.strategy)
    if args.convention:
        _set(raw, "physics.convention", args.convention)
    loaded = config_from_dict(raw, cfg_path.parent, cfg_path)
    _check_fit_options(args)
    out = Path(args.output_dir)
    created = prepare_output_dir(out, "--output-dir")  # before the data are loaded
    try:
        if runtime is not None:
            if cli_many.wants_many(args):
                return cli_distributed.run_many(args, loaded, raw, out, runtime, echo)
            return cli_distributed.run(args, loaded, raw, out, runtime, echo, exit_code)
        return _fit_and_write(args, loaded, raw, out, interrupt)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if still empty: nothing of this run is left
        raise


def _check_fit_options(args: argparse.Namespace) -> None:
    """Refuse option values of `fit` that need no file read (before a job is joined)."""
    if args.multistart is not None and args.multistart < 1:
        raise ValueError(f"--multistart: must be >= 1, got {args.multistart}")
    if args.distributed and args.joint:
        raise ValueError("--joint: not available with --distributed (fit the q-bins on the "
                         "job, the joint fit on one process)")
    if args.distributed and args.multistart and cli_many.wants_many(args):
        raise ValueError("--multistart: not available with --q (fit one q with it)")


def _fit_and_write(args: argparse.Namespace, loaded: Any, raw: dict, out: Path,
                   interrupt: Interrupt) -> int:

    from .io.dataset import load_dataset
    from .io.results import summary_lines, write_results

    if cli_many.wants_many(args):
        return cli_many.run_many(args, loaded, raw, out, interrupt, echo, _plots, EXIT_OK,
                                 EXIT_NOT_GOOD)
    data, dataset = load_dataset(loaded, args.data, data_field="--data")
    echo(f"data: {dataset['file']} ({dataset['layout']}), q = {dataset['q']:g} Å⁻¹ "
         f"(config {dataset['q_requested']}), frames {dataset['start_frame']}.."
         f"{dataset['end_frame']}, {data.n_phi} angles × {data.n_t}² = {data.n_points:,} points")
    interrupt.check()
    progress = Progress(sys.stderr, loaded.fit.solver.max_nfev) if show_progress(
        args, loaded.fit, data.n_points) else None
    result = run_fit(args, data, loaded.fit, echo, callback=progress)
    if progress is not None:
        progress.finish()
    interrupt.check()  # an interrupt swallowed inside the fit still stops here
    for line in summary_lines(result):
        echo(line)
    echo(f"time: {result.execution_time:.2f} s")
    paths = write_results(out, result, data, loaded.fit, dataset=dataset, config_echo=raw)
    interrupt.check()
    figures = _plots(out, args.no_plots)
    echo(f"wrote {', '.join(str(p) for p in paths.values())}"
         + (f" and {len(figures)} figures" if figures else ""))
    return exit_code(result, echo)


def _plots(out: Path, skip: bool) -> list[Path]:
    """The figures: a second commit after the results, so a figure that fails to draw
    loses no result."""
    from .io._optional import available

    if skip:
        return []
    if not available("matplotlib"):
        echo("note: matplotlib not installed, no figures (pip install 'xpcsfit[plot]')",
             stream=sys.stderr)
        return []
    from .io.plots import plot_results

    try:
        return plot_results(out)
    except Exception as err:  # the results are written; a figure is not worth losing them
        echo(f"xpcsfit: warning: figures not drawn: {type(err).__name__}: {_one_line(err)}",
             stream=sys.stderr)
        return []


def _cmd_simulate(args: argparse.Namespace, interrupt: Interrupt) -> int:
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
    echo(f"wrote {paths['data']} (APS-U layout), {paths['config']} and {paths['truth']}")
    echo(f"next: xpcsfit fit --config {paths['config']} --output-dir "
         f"{Path(args.output_dir) / 'results'}")
    return EXIT_OK


def _cmd_config(args: argparse.Namespace, interrupt: Interrupt) -> int:
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
    echo(f"wrote {path}")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace, interrupt: Interrupt) -> int:
    from .demo import run_demo
    from .io.paths import prepare_output_dir

    prepare_output_dir(args.output_dir, "--output-dir")
    cli_many.start_cache(args, echo)
    run_demo(write=echo, output_dir=args.output_dir, plots=not args.no_plots)
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        echo(f"xpcsfit: error: {self.prog}: {message} (see {self.prog} --help)",
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
    echo(f"xpcsfit: warning: {message}", stream=sys.stderr)


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror and err.filename:
        return f"{err.filename}: {err.strerror}"
    return " ".join(str(err).split()) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `xpcsfit` command; returns the exit code (see `EXIT_CODES`).
    Argument errors raise SystemExit(2) after one line on stderr, as argparse does."""
    args = build_parser().parse_args(argv)
    interrupt = Interrupt()
    try:
        previous = signal.signal(signal.SIGINT, interrupt)
    except ValueError:  # not the main thread
        previous = None
    runtime = None
    try:
        handler = verbose_logging(args.verbose)
        with warnings.catch_warnings(), _talk(args):
            warnings.showwarning = _show_warning
            try:
                if args.command == "fit" and args.distributed:  # before any other JAX work
                    _check_fit_options(args)
                    runtime = cli_distributed.start(args)
                    code = _cmd_fit(args, interrupt, runtime)
                else:
                    code = COMMANDS[args.command](args, interrupt)
            finally:
                if handler is not None:
                    logger = logging.getLogger("xpcsfit")
                    logger.removeHandler(handler)
                    logger.setLevel(logging.NOTSET)
        interrupt.check()
    except (KeyboardInterrupt, Exception) as err:
        code = _error_code(err, interrupt)
        if code is None:
            raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if runtime is not None:  # a multi-process job's process that did not finish leaves
        runtime.exit_code = code  # with this code (`distributed.Runtime`)
    return code


def _error_code(err: KeyboardInterrupt | Exception, interrupt: Interrupt) -> int | None:
    """The exit code of a command that raised `err`, after its one line on stderr; None for
    an internal error with XPCSFIT_TRACEBACK set (the caller re-raises it)."""
    if isinstance(err, KeyboardInterrupt):
        return interrupted()
    if isinstance(err, MemoryError):
        if interrupt.count:
            return interrupted()
        echo("xpcsfit: error: out of memory (for data larger than memory set "
             "optimization.nlsq.strategy: hybrid_streaming)", stream=sys.stderr)
        return EXIT_USER
    if isinstance(err, DistributedError):
        echo(f"xpcsfit: error: {_one_line(err)}", stream=sys.stderr)
        return EXIT_LOST
    if interrupt.count:
        return interrupted()
    if isinstance(err, USER_ERRORS):
        echo(f"xpcsfit: error: {_one_line(err)}", stream=sys.stderr)
        return EXIT_USER
    if os.environ.get("XPCSFIT_TRACEBACK"):
        return None
    echo(f"xpcsfit: internal error: {type(err).__name__}: {_one_line(err)} (please "
         f"report it; XPCSFIT_TRACEBACK=1 shows the traceback)", stream=sys.stderr)
    return EXIT_INTERNAL
