"""Suite `fit`: xpcsfit vs scipy.optimize.least_squares(trf) on identical simulated data and start.

Cases (DESIGN §10): static 3φ×100², laminar 3φ×200², laminar 23φ×200² (0.92M points,
53 parameters); start at truth × 1.5, per-angle "individual". Each case runs in its own
process; see `benchmarks.fitsuite` for the columns. Quick: laminar 23φ×50² (56k points,
53 parameters, 20 s window), the `scaling` suite's quick case, measured once per run.

    python -m benchmarks fit [--quick]
"""

from __future__ import annotations

from benchmarks.fitsuite import run_cases
from benchmarks.problems import LAMINAR, NAMES, config_for, laminar_window, make_data

__all__ = ["CASES", "LAMINAR", "NAMES", "config_for", "make_data", "run"]

CASES = [
    {"name": "static 3φ×100²", "mode": "static_isotropic", "n_phi": 3, "n_t": 100},
    {"name": "laminar 3φ×200²", "mode": "laminar_flow", "n_phi": 3, "n_t": 200},
    {"name": "laminar 23φ×200²", "mode": "laminar_flow", "n_phi": 23, "n_t": 200},
]


def run(quick: bool = False) -> None:
    """All cases with scipy (quick: laminar 23φ×50², shared with `scaling --quick`)."""
    run_cases("fit", [laminar_window(50)] if quick else CASES, reuse=quick)


if __name__ == "__main__":
    import sys

    run(quick="--quick" in sys.argv)
