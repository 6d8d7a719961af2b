"""The command-line pieces of issue 19, kept apart from `cli.py`: `--q` (several q-bins
in one process), `--joint` (shared physics across q) and `--compile-cache` (JAX's
persistent compilation cache, on by default)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .compile_cache import ENV_VAR


def add_cache_option(p: argparse.ArgumentParser) -> None:
    """`--compile-cache DIR|off` on a command that compiles."""
    p.add_argument("--compile-cache", metavar="DIR|off",
                   help=f"JAX compilation cache folder, or off (default: ${ENV_VAR}, else "
                   "$XDG_CACHE_HOME/xpcsfit/jax or ~/.cache/xpcsfit/jax); a second run of "
                   "the same shapes then compiles nothing (no per-iteration progress while on)")


def add_fit_options(p: argparse.ArgumentParser) -> None:
    """The `fit` options of several q-bins and of the compilation cache."""
    p.add_argument("--q", metavar="all|LIST|MIN:MAX",
                   help="fit several q-bins of the file in one process: all, a comma-separated "
                   "list (each the nearest file q) or MIN:MAX [1/Å]; one subfolder per q plus "
                   "summary.csv, summary.json and parameters_vs_q.png")
    p.add_argument("--joint", action="store_true",
                   help="also fit the selected q-bins jointly (shared physical parameters, "
                   "per-q contrast/offset; --q all when --q is not given): joint.json and a "
                   "consistency test in summary.json")
    add_cache_option(p)


def start_cache(args: argparse.Namespace, echo: Callable) -> Path | None:
    """Turn the compilation cache on as `--compile-cache` / the environment say; sets and
    returns `args.cache_dir` (None: off)."""
    from .compile_cache import enable_compile_cache

    value = getattr(args, "compile_cache", None)
    folder = enable_compile_cache(value, field="--compile-cache" if value is not None
                                  else ENV_VAR)
    args.cache_dir = folder
    return folder


def wants_many(args: argparse.Namespace) -> bool:
    return getattr(args, "q", None) is not None or getattr(args, "joint", False)


def run_many(args: argparse.Namespace, loaded: Any, raw: dict, out: Path, interrupt: Any,
             echo: Callable, plots: Callable[[Path, bool], list[Path]],
             exit_ok: int, exit_not_good: int) -> int:
    """`xpcsfit fit --q …` (and `--joint`): every selected q fitted alone in one process
    (one compile per shape), results in `out/q_<q>/`, then the summary (and joint) files."""
    from .fitting.joint import fit_joint
    from .fitting.many import fit_many
    from .io.many import load_datasets, parse_q_selection
    from .io.q_summary import bin_folder, write_q_summary
    from .io.results import write_results

    if getattr(args, "multistart", None):
        raise ValueError("--multistart: not available with --q/--joint (fit one q with it)")
    selection = parse_q_selection(args.q if args.q is not None else "all", "--q")
    loaded_bins = load_datasets(loaded, selection, args.data, data_field="--data")
    qs = [info["q"] for _, info in loaded_bins]
    first = loaded_bins[0][0]
    echo(f"data: {loaded_bins[0][1]['file']}: {len(qs)} q-bins "
         f"({', '.join(f'{q:g}' for q in qs)} Å⁻¹), {first.n_phi} angles × {first.n_t}² "
         f"each")
    if args.joint and len(qs) < 2:
        raise ValueError(f"--joint: needs at least 2 q-bins, --q selects {len(qs)} ({qs})")
    interrupt.check()

    def written(k: int, result) -> None:
        data, info = loaded_bins[k]
        folder = out / bin_folder(qs[k])
        write_results(folder, result, data, loaded.fit, dataset=info, config_echo=raw)
        plots(folder, args.no_plots)
        echo(q_line(qs[k], result, folder))
        interrupt.check()

    echo(f"fitting {loaded.fit.analysis_mode} at {len(qs)} q (the first fit of a shape "
         f"compiles) …")
    datasets = [d for d, _ in loaded_bins]
    results = fit_many(datasets, loaded.fit, on_result=written)
    joint = None
    if args.joint:
        echo("joint fit across q (shared physical parameters) …")
        joint = fit_joint(datasets, loaded.fit, singles=results)
        interrupt.check()
        c = joint.device_info["joint"]["consistency"]
        for name, value in joint.physical().items():
            echo(f"{name:>20} {value:12.5g} ± {joint.uncertainty(name):.3g}")
        echo(f"joint: χ²_red {joint.reduced_chi_squared:.4f}, {joint.quality_flag}; "
             f"consistency across q: F = {c['f_statistic']:.3g}, p = {c['p_value']:.3g} → "
             f"{'consistent' if c['consistent'] else 'INCONSISTENT'}")
    paths = write_q_summary(out, qs, results, joint=joint, plots=not args.no_plots,
                            extra={"file": loaded_bins[0][1]["file"]})
    echo(f"wrote {', '.join(str(p) for p in paths.values())}")
    return bins_exit_code(qs, results, echo, exit_ok, exit_not_good, joint)


def q_line(q: float, result: Any, folder: Path) -> str:
    """The one line reported for the fit of the q-bin q [Å⁻¹] written to `folder`."""
    return (f"q = {q:g}: χ²_red {result.reduced_chi_squared:.4f}, {result.quality_flag}, "
            f"{result.execution_time:.2f} s → {folder}")


def bins_exit_code(qs: list[float], results: list, echo: Callable, exit_ok: int,
                   exit_not_good: int, joint: Any = None) -> int:
    """`exit_ok` when every q-bin's result (and the joint one) is "good", else
    `exit_not_good` after one line on stderr naming those that are not."""
    labelled = [(f"q = {q:g}", r) for q, r in zip(qs, results, strict=True)]
    if joint is not None:
        labelled.append(("joint", joint))
    bad = [f"{label}: {r.quality_flag}" for label, r in labelled if r.quality_flag != "good"]
    if bad:
        echo(f"xpcsfit: results not all good: {'; '.join(bad)} (exit code {exit_not_good})",
             stream=sys.stderr)
        return exit_not_good
    return exit_ok
