"""`xpcsfit fit --distributed`: one process of a multi-process fit. Every process loads its
share of the data and runs the same fit; process 0 prints and writes the results."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .distributed.runtime import Runtime  # imports JAX


def start(args: argparse.Namespace) -> Runtime:
    """Join the job from the environment (before any other JAX work)."""
    from .distributed import initialize, settings_from_env

    return initialize(settings_from_env(os.environ))


def run(args: argparse.Namespace, loaded: Any, raw: dict, out: Path, runtime: Runtime,
        echo: Callable[..., None], exit_code: Callable[[Any, Callable], int]) -> int:
    """Load this process's share, fit, and (process 0) write parameters.json and
    fit_report.json; no fitted_data.npz or figures (no process holds all of c2). Every
    process returns `exit_code(result, echo)`."""
    from .cli_progress import run_fit
    from .io.results import summary_lines, write_results
    from .io.share import load_share

    say = _writer_only(runtime, echo)
    s = runtime.settings
    data, dataset = load_share(loaded, args.data, data_field="--data")
    rows = dataset["rows"]
    say(f"data: {dataset['file']} ({dataset['layout']}), q = {dataset['q']:g} Å⁻¹, "
        f"{data.n_phi} angles × {data.n_t}² = {data.n_points:,} points over {s.num_processes} "
        f"processes (process {s.process_id}: t1 rows {rows[0]}..{rows[1] - 1})")
    result = run_fit(args, data, loaded.fit, say, f" on {s.num_processes} processes")
    for line in summary_lines(result):
        say(line)
    say(f"time: {result.execution_time:.2f} s")
    if runtime.is_writer:
        paths = write_results(out, result, data, loaded.fit, dataset=dataset, config_echo=raw,
                              fitted=False)
        say(f"wrote {', '.join(str(p) for p in paths.values())} (no fitted_data.npz or "
            f"figures in a multi-process fit)")
    runtime.stop()
    return exit_code(result, say)


def run_many(args: argparse.Namespace, loaded: Any, raw: dict, out: Path, runtime: Runtime,
             echo: Callable[..., None]) -> int:
    """`fit --distributed --q …`: the selected q-bins one after another, each loaded as this
    process's share and fitted by the whole job; process 0 writes out/q_<q>/ (parameters
    and report) and the summary. Every process returns the same exit code."""
    import xpcsfit

    from .cli_exit import EXIT_NOT_GOOD, EXIT_OK
    from .cli_many import bins_exit_code, q_line
    from .fitting.many import config_for_bins
    from .io.many import parse_q_selection, q_configs
    from .io.q_summary import bin_folder, write_q_summary
    from .io.results import write_results
    from .io.share import load_share

    say = _writer_only(runtime, echo)
    path, where, bins = q_configs(loaded, parse_q_selection(args.q or "all", "--q"),
                                  args.data, "--data")
    qs = [q for q, _ in bins]
    say(f"data: {path}: {len(qs)} q-bins ({', '.join(f'{q:g}' for q in qs)} Å⁻¹) on "
        f"{runtime.settings.num_processes} processes")
    results, cfg = [], config_for_bins(loaded.fit)  # each bin's data carry its q
    for q, at_q in bins:
        data, info = load_share(at_q, path, data_field=where)
        info["q_requested"] = q
        result = xpcsfit.fit(data, cfg)
        results.append(result)
        if runtime.is_writer:
            write_results(out / bin_folder(q), result, data, cfg, dataset=info,
                          config_echo=raw, fitted=False)
        say(q_line(q, result, out / bin_folder(q)))
        del data  # this q's share, before the next is read
    if runtime.is_writer:
        paths = write_q_summary(out, qs, results, plots=not args.no_plots,
                                extra={"file": str(path), "processes":
                                       runtime.settings.num_processes})
        say(f"wrote {', '.join(str(p) for p in paths.values())}")
    runtime.stop()
    return bins_exit_code(qs, results, say, EXIT_OK, EXIT_NOT_GOOD)


def _writer_only(runtime: Runtime, echo: Callable[..., None]) -> Callable[..., None]:
    """`echo` in the process that writes the results (process 0); silence in the others."""
    return echo if runtime.is_writer else (lambda *a, **k: None)
