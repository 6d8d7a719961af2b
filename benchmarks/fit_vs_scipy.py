"""Suite `fit`: xpcsfit vs scipy.optimize.least_squares(trf) on identical simulated data and start.

Cases (DESIGN §10): static 3φ×100², laminar 3φ×200², laminar 23φ×200² (0.92M points,
53 parameters); start at truth × 1.5, per-angle "individual". Each case runs in its own
process; see `benchmarks.fitsuite` for the columns.

    python -m benchmarks fit [--quick]
"""

from __future__ import annotations

from benchmarks.fitsuite import run_cases
from benchmarks.problems import LAMINAR, NAMES, config_for, make_data

__all__ = ["CASES", "LAMINAR", "NAMES", "config_for", "make_data", "run"]

CASES = [
    {"name": "static 3φ×100²", "mode": "static_isotropic", "n_phi": 3, "n_t": 100},
    {"name": "laminar 3φ×200²", "mode": "laminar_flow", "n_phi": 3, "n_t": 200},
    {"name": "laminar 23φ×200²", "mode": "laminar_flow", "n_phi": 23, "n_t": 200},
]


def run(quick: bool = False) -> None:
    """All cases with scipy (quick: laminar 3φ×200² only: scipy on 53 parameters takes
    14–19 s of CPU whatever the size, on the 23φ×30² case as on 23φ×50²)."""
    run_cases("fit", CASES[1:2] if quick else CASES)


if __name__ == "__main__":
    import sys

    run(quick="--quick" in sys.argv)
