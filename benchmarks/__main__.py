"""Run benchmark suites: `python -m benchmarks [suite …] [--quick]`.

Suites: solver (NIST vs scipy), fit (xpcsfit vs scipy on simulated XPCS), scaling
(0.92M–23M points). `--quick` runs the small fit cases only (≤ 2 minutes).
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("suites", nargs="*", default=["solver", "fit", "scaling"],
                        choices=["solver", "fit", "scaling"])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        from benchmarks import fit_vs_scipy

        fit_vs_scipy.run(quick=True)
        return
    for suite in args.suites:
        if suite == "solver":
            from benchmarks import solver_vs_scipy

            solver_vs_scipy.run()
        elif suite == "fit":
            from benchmarks import fit_vs_scipy

            fit_vs_scipy.run()
        else:
            from benchmarks import scaling

            scaling.run([200, 500, 1000])


if __name__ == "__main__":
    main()
