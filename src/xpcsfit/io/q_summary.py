"""Result files of a run over several q-bins: `summary.csv` and `summary.json` (one row per
q: q, each physical parameter ± SE, χ²_red, quality, time; a "joint" row for a joint fit)
and `parameters_vs_q.png` (each physical parameter against q with error bars), written
together with a manifest (`xpcsfit.io.atomic`)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..fitting.result import OptimizationResult, jsonable
from .atomic import commit, staging
from .paths import prepare_output_dir

logger = logging.getLogger(__name__)

SUMMARY_CSV, SUMMARY_JSON, Q_FIGURE = "summary.csv", "summary.json", "parameters_vs_q.png"
JOINT_JSON = "joint.json"
_OWNED = (SUMMARY_CSV, SUMMARY_JSON, Q_FIGURE, JOINT_JSON)


def bin_folder(q: float) -> str:
    """The subfolder name of one q-bin's results, e.g. ``q_0.0065``."""
    return f"q_{q:.6g}"


def summary_row(q: float | str, result: OptimizationResult, folder: str | None) -> dict:
    """One row: q, value and SE of each physical parameter, χ²_red, quality, time [s]."""
    row: dict[str, Any] = {"q": q}
    for name, value in result.physical().items():
        row[name] = value
        row[f"{name}_se"] = result.uncertainty(name)
    row.update(reduced_chi2=result.reduced_chi_squared, quality=result.quality_flag,
               status=result.convergence_status, time_s=result.execution_time,
               folder=folder)
    return row


def _csv(rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def write_q_summary(out_dir: str | Path, q: Sequence[float],
                    results: Sequence[OptimizationResult], *,
                    joint: OptimizationResult | None = None, plots: bool = True,
                    extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write summary.csv / summary.json (and joint.json, the figure when `plots` and
    matplotlib is installed) for results[k] at q[k] [Å⁻¹]; returns the paths by kind."""
    from ._optional import available

    out = Path(out_dir)
    prepare_output_dir(out, "out_dir")
    rows = [summary_row(float(qk), r, bin_folder(float(qk))) for qk, r in
            zip(q, results, strict=True)]
    if joint is not None:
        rows.append(summary_row("joint", joint, None))
    doc = {"rows": rows, "n_q": len(results), **(extra or {})}
    if joint is not None:
        doc["joint"] = joint.device_info["joint"]
    paths = {}
    with staging(out) as stage:
        (stage / SUMMARY_CSV).write_text(_csv(rows), encoding="utf-8")
        (stage / SUMMARY_JSON).write_text(json.dumps(jsonable(doc), indent=2), encoding="utf-8")
        paths.update(csv=out / SUMMARY_CSV, json=out / SUMMARY_JSON)
        if joint is not None:
            (stage / JOINT_JSON).write_text(json.dumps(joint.to_dict(), indent=2),
                                            encoding="utf-8")
            paths["joint"] = out / JOINT_JSON
        if plots and available("matplotlib"):
            plot_vs_q(stage / Q_FIGURE, rows)
            paths["figure"] = out / Q_FIGURE
        commit(stage, out, lambda name: name in _OWNED)
    logger.info("wrote %s", ", ".join(p.name for p in paths.values()))
    return paths


def _focus(ax, v: np.ndarray, e: np.ndarray) -> None:
    """y-range on the bins whose SE is within 10× the median SE, so one undetermined bin
    (huge error bar, drawn running off the axes) does not flatten the others."""
    ok = np.isfinite(v) & np.isfinite(e)
    if ok.sum() < 2:
        return
    keep = ok & (e <= 10.0 * np.median(e[ok]))
    if keep.all() or not keep.any():
        return
    lo, hi = float(np.min(v[keep] - e[keep])), float(np.max(v[keep] + e[keep]))
    pad = 0.1 * (hi - lo) or 0.1 * abs(hi) or 1.0
    ax.set_ylim(lo - pad, hi + pad)


def plot_vs_q(path: Path, rows: Sequence[dict]) -> Path:
    """Each physical parameter against q with ±1 SE error bars (the joint value, if a
    "joint" row is present, as a line with its ±1 SE band); the y-range follows the
    determined bins (`_focus`)."""
    from .plots import _LABELS, DPI, _pyplot
    from .template import UNITS

    plt = _pyplot()
    per_q = [r for r in rows if r["q"] != "joint"]
    joint = next((r for r in rows if r["q"] == "joint"), None)
    names = [k for k in per_q[0] if f"{k}_se" in per_q[0]]
    cols = min(len(names), 4)
    nrows = -(-len(names) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False)
    q = np.array([r["q"] for r in per_q], dtype=float)
    for ax, name in zip(axes.ravel(), names, strict=False):
        v = np.array([r[name] for r in per_q], dtype=float)
        e = np.array([r[f"{name}_se"] for r in per_q], dtype=float)
        ax.errorbar(q, v, yerr=np.where(np.isfinite(e), e, 0.0), fmt="o", ms=4, capsize=3,
                    label="each q alone")
        if joint is not None:
            jv, je = float(joint[name]), float(joint[f"{name}_se"])
            ax.axhline(jv, color="C1", lw=1.2, label="joint")
            if np.isfinite(je):
                ax.axhspan(jv - je, jv + je, color="C1", alpha=0.2, lw=0)
        _focus(ax, v, e)
        unit = UNITS.get(name, "")
        ax.set_title(_LABELS.get(name, name) + (f" [{unit}]" if unit and unit != "-" else ""))
        ax.set_xlabel("q [Å⁻¹]")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
