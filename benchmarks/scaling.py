"""Suite `scaling`: fit time and memory vs data size, laminar flow, 23 angles, 53 parameters.

n_t = 200, 500, 1000 (0.92M, 5.75M, 23M points) over the same 20 s window (dt = 20/n_t),
so the decorrelation, and the difficulty, stay fixed while the number of points grows.
Each size runs in its own process (peak RSS per case); scipy runs where it fits
(`benchmarks.fitsuite`). Quick: n_t = 30 without scipy; it is also the `screening` suite's
"on" case, so within one `--quick` run that suite reuses this measurement.

    python -m benchmarks scaling [--quick]
"""

from __future__ import annotations

from benchmarks.fitsuite import run_cases
from benchmarks.problems import QUICK_N_T, laminar_window

SIZES = (200, 500, 1000)
QUICK_SIZES = (QUICK_N_T,)


def run(quick: bool = False) -> None:
    """All sizes, scipy where it fits (quick: the small sizes, no scipy: the fit suite has it)."""
    run_cases("scaling", [laminar_window(n) for n in (QUICK_SIZES if quick else SIZES)],
              with_scipy=not quick, reuse=quick)


if __name__ == "__main__":
    import sys

    run(quick="--quick" in sys.argv)
