"""Run benchmark suites: `python -m benchmarks [suite …] [--quick] [--device cpu|gpu]`.

Suites: solver (NIST vs scipy), fit (xpcsfit vs scipy on simulated XPCS), scaling
(0.92M–23M points), streaming (memory-mapped data), degeneracy, batch (vmap vs loop).
With no suite named, all run. `--quick` runs every suite's small cases (about 1.5 minutes
in all on 2 quiet cores: 84–95 s measured, the first run on a machine ~10 s more while it
fills degeneracy's compilation cache; 3–4.5 minutes on a loaded machine). Results:
benchmarks/results/<suite>.json and .md (results/quick/ for --quick); summary.md (the
README tables) and the plots of time and memory vs points are redrawn there at the end
(`--no-plots` skips the plots).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from benchmarks.registry import SUITES


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suites", nargs="*", metavar="suite",
                        help=f"any of: {', '.join(SUITES)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="small cases only (about 1.5 minutes on 2 quiet cores)")
    parser.add_argument("--device", choices=["cpu", "gpu"],
                        help="cpu forces JAX_PLATFORMS=cpu; gpu requires a GPU")
    parser.add_argument("--no-plots", action="store_true", help="do not redraw the PNG plots")
    args = parser.parse_args(argv)
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the suites; exit status 1 if any failed, 2 if the device is unavailable."""
    args = parse(argv)
    from benchmarks.device import DeviceError, select_device

    try:
        select_device(args.device)
    except DeviceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from benchmarks.common import RESULTS, RESULTS_ENV
    from benchmarks.registry import run_suite

    if args.quick:  # quick numbers never overwrite the full results
        os.environ.setdefault(RESULTS_ENV, str(RESULTS / "quick"))

    failures = []
    for name in args.suites or list(SUITES):
        print(f"\n## {name}{' (quick)' if args.quick else ''}\n", flush=True)
        start = time.perf_counter()
        reason = run_suite(name, args.quick)
        print(f"({name}: {time.perf_counter() - start:.0f} s)", flush=True)
        if reason is not None:
            print(f"FAILED: {reason}", file=sys.stderr, flush=True)
            failures.append(reason)
    from benchmarks.report import write_summary

    print(f"wrote {write_summary()}")
    if not args.no_plots:
        try:
            from benchmarks.plots import draw_all

            for path in draw_all():
                print(f"wrote {path}")
        except Exception as err:  # plots are a by-product: report, keep the exit status
            hint = (" (install the `plot` extra: pip install -e '.[plot]')"
                    if isinstance(err, ImportError) and err.name == "matplotlib" else "")
            failures.append(f"plots: {type(err).__name__}: {err}{hint}")
    for reason in failures:
        print(f"FAILED: {reason}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
