"""Run simulated fit cases (each in its own process) against scipy, with floor and table.

Shared by the `fit` and `scaling` suites. scipy runs on a case only if its dense Jacobian
(points × parameters × 8 B) fits in SCIPY_MAX_JACOBIAN_GB and it finishes within
SCIPY_TIMEOUT_S; otherwise the row says why it has no scipy numbers.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np

from benchmarks.common import print_table, write_results
from benchmarks.floor import efficiency
from benchmarks.isolate import CaseError, isolated
from benchmarks.machine import peak_rates
from benchmarks.problems import case_label, truth_for

SCIPY_TIMEOUT_S = 120.0
SCIPY_MAX_JACOBIAN_GB = 1.0

COLUMNS = [("case", "case", "s"), ("points", "points", ","), ("params", "p", "d"),
           ("strategy", "strategy", "s"), ("cold_s", "cold s", ".2f"),
           ("warm_s", "warm s", ".3f"), ("passes", "passes", "d"),
           ("pass_ms", "pass ms", ".1f"), ("overhead", "overhead", ".2f"),
           ("pass_gflops", "pass GFLOP/s", ".1f"), ("roofline_pct", "roofline %", ".0f"),
           ("points_per_s", "points/s", ".3g"), ("chi2_red", "χ²_red", ".4f"),
           ("max_z", "max \\|Δ\\|/σ", ".2f"), ("peak_rss_gb", "peak RSS GiB", ".2f"),
           ("scipy_s", "scipy s", ".2f"), ("ratio", "scipy/xpcsfit", ".1f"),
           ("scipy_peak_rss_gb", "scipy RSS GiB", ".2f"), ("max_rel_diff", "max rel Δx", ".1e")]


def scipy_skip_reason(points: int, params: int) -> str | None:
    """Why scipy is not run on a case of this size (None: run it)."""
    jac_gb = points * params * 8 / 1024**3
    if jac_gb > SCIPY_MAX_JACOBIAN_GB:
        return f"dense Jacobian {jac_gb:.1f} GiB > {SCIPY_MAX_JACOBIAN_GB} GiB"
    return None


def scipy_columns(case: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """scipy's numbers on the case (same data, same start) and the same-run ratios."""
    reason = scipy_skip_reason(ours["points"], ours["params"])
    if reason is not None:
        return {"scipy_note": reason}
    try:
        ref = isolated("benchmarks.fitcase:scipy_case", {**case, "x0": ours["x0"]},
                       timeout=SCIPY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"scipy_note": f"did not finish in {SCIPY_TIMEOUT_S:.0f} s"}
    except CaseError as err:
        return {"scipy_note": f"failed: {str(err).splitlines()[-1]}"}
    x_ref, x_ours = np.asarray(ref.pop("x")), np.asarray(ours["x"])
    diff = np.abs(x_ref - x_ours) / np.maximum(np.abs(x_ref), 1e-12)
    return {**ref, "ratio": ref["scipy_s"] / ours["warm_s"],
            "max_rel_diff": float(np.max(diff)), "scipy_note": None}


def measure(case: dict[str, Any], with_scipy: bool, reuse: bool = False) -> dict[str, Any]:
    """One table row: the xpcsfit case, its efficiency and (optionally) scipy; `reuse`: an
    identical case measured earlier in this run is not measured again (`isolate`)."""
    try:
        ours = isolated("benchmarks.fitcase:xpcsfit_case", case, reuse=reuse)
    except CaseError as err:  # e.g. out of device memory: the row says so, the suite goes on
        print(f"case failed: {err}", file=sys.stderr, flush=True)
        return {"case": case_label(case), "mode": case["mode"], "n_phi": case["n_phi"],
                "n_t": case["n_t"], "error": str(err).splitlines()[-1]}
    row = {"case": case_label(case), "mode": case["mode"], **ours,
           "truth": truth_for(case["mode"]).tolist(), "pass_ms": 1e3 * ours["pass_s"]}
    eff = efficiency(ours, peak_rates())
    row.update(eff, roofline_pct=100.0 * eff["roofline_fraction"])
    if with_scipy:
        row.update(scipy_columns(case, ours))
    for key in ("x0", "x"):
        row.pop(key)
    return row


def run_cases(suite: str, cases: list[dict[str, Any]], with_scipy: bool = True,
              reuse: bool = False) -> list[dict[str, Any]]:
    """Measure each case, print the Markdown table and write results/<suite>.json."""
    rows = []
    for case in cases:
        rows.append(measure(case, with_scipy, reuse))
        print(f"done: {rows[-1]['case']}", flush=True)
    write_results(suite, rows, print_table(rows, COLUMNS))
    return rows
