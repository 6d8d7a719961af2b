"""Suite `screening`: what global screening costs — warm fit time with and without it.

Laminar flow, 23 angles, n_t = 200 (0.92M points; quick: n_t = 30, where the budget does
not apply: the screening's fixed cost dominates a fit that small), start truth × 1.5,
each configuration in its own process. Screening on is the library default, so in a
`--quick` run the "on" row is the `scaling` quick case, measured once (`"reused"`).
The budget (issue 16): screening on costs at most 2× the warm time of the fit without it.
The ratio is measured in the same run.

    python -m benchmarks screening [--quick]
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import print_table, write_results
from benchmarks.isolate import isolated
from benchmarks.problems import QUICK_N_T, laminar_window

BUDGET = 2.0
COLUMNS = [("case", "case", "s"), ("points", "points", ","), ("screening", "screening", "s"),
           ("cold_s", "cold s", ".2f"), ("warm_s", "warm s", ".3f"),
           ("ratio", "warm / warm without", ".2f"), ("nfev", "nfev", "d"),
           ("chi2_red", "χ²_red", ".4f"), ("quality", "quality", "s"),
           ("peak_rss_gb", "peak RSS GiB", ".2f"), ("within_budget", f"≤ {BUDGET}×", "s")]


def run(quick: bool = False) -> None:
    """Screening off, then on (the default), on the same data and start."""
    n_t = QUICK_N_T if quick else 200
    rows: list[dict[str, Any]] = []
    for screening in (False, True):  # on: no setting, the library default
        spec = {**laminar_window(n_t),
                **({} if screening else {"screening": False, "floor": False})}
        out = isolated("benchmarks.fitcase:xpcsfit_case", spec, reuse=quick)
        rows.append({"case": f"laminar 23φ×{n_t}²", "screening": "on" if screening else "off",
                     **{k: out[k] for k in ("points", "cold_s", "warm_s", "nfev", "chi2_red",
                                            "quality", "peak_rss_gb")},
                     "reused": bool(out.get("reused", False))})
    base = rows[0]["warm_s"]
    for row in rows:
        row["ratio"] = row["warm_s"] / base
        row["within_budget"] = "yes" if row["ratio"] <= BUDGET else "NO"
    write_results("screening", rows, print_table(rows, COLUMNS))


if __name__ == "__main__":
    import sys

    run(quick="--quick" in sys.argv)
