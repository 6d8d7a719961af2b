"""Figures of a fit from its result files (fitted_data.npz, parameters.json): per-angle
experimental / fit / residual heatmaps (one PNG per angle and all angles in one multi-page
PDF), cuts at fixed t1, and a parameter table."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ._optional import require
from .atomic import commit, staging
from .paths import prepare_output_dir
from .results import FITTED, PARAMETERS, is_figure
from .template import UNITS

logger = logging.getLogger(__name__)

DPI = 150
_LABELS = {"D0": "D₀", "alpha": "α", "D_offset": "D_offset", "gamma_dot_t0": "γ̇₀",
           "beta": "β", "gamma_dot_t_offset": "γ̇_offset", "phi0": "φ₀"}


def _pyplot():
    """pyplot for drawing files. A backend already chosen (pyplot imported, e.g. Jupyter's
    inline backend, or MPLBACKEND set) is left alone; otherwise Agg, which needs no display."""
    matplotlib = require("matplotlib")
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "figure.dpi": DPI}
"""The figures' matplotlib settings, applied only while they are drawn (a notebook's own
settings are left as they were)."""


def _heatmaps(plt, out: Path, d: dict[str, np.ndarray]) -> list[Path]:
    """One figure per angle, as PNG and as a page of c2_heatmaps.pdf: experimental and fit
    on a shared colour scale set by the fitted (off-diagonal) points, and the residual in
    units of σ; the unfitted diagonal is blank. One figure is reused (data swapped in),
    which keeps 20+ angles quick."""
    from matplotlib.backends.backend_pdf import PdfPages

    t, phi = d["t"], d["phi"]
    q = f"q = {float(d['q']):.4g} Å⁻¹, " if "q" in d else ""
    off = ~np.eye(t.size, dtype=bool)
    extent = (t[0], t[-1], t[0], t[-1])
    sigma = np.broadcast_to(d["sigma"], d["c2_exp"].shape)
    fig = plt.figure(figsize=(11.0, 3.7))
    grid = fig.add_gridspec(1, 6, width_ratios=[1, 1, 0.05, 0.42, 1, 0.05], left=0.05,
                            right=0.94, bottom=0.14, top=0.84, wspace=0.25)
    axes = [fig.add_subplot(grid[0, k]) for k in (0, 1, 4)]
    titles = ("experimental c₂", "fit c₂", "residual (exp − fit)/σ")
    images = []
    for ax, title, cmap in zip(axes, titles, ("viridis", "viridis", "RdBu_r"), strict=True):
        images.append(ax.imshow(np.zeros((t.size, t.size)), origin="lower", extent=extent,
                                cmap=cmap, interpolation="nearest", aspect="equal"))
        ax.set_title(title)
        ax.set_xlabel("t₂ [s]")
        ax.set_ylabel("t₁ [s]")
    axes[1].tick_params(labelleft=False)  # shares the experimental panel's axes
    axes[1].set_ylabel("")
    bars = [fig.colorbar(images[1], cax=fig.add_subplot(grid[0, 2]), label="c₂"),
            fig.colorbar(images[2], cax=fig.add_subplot(grid[0, 5]), label="(c₂ − fit)/σ")]
    heading = fig.suptitle("")
    paths = []
    pdf_path = out / "c2_heatmaps.pdf"
    pdf = PdfPages(pdf_path, metadata={"Title": "xpcsfit c2 heatmaps"})
    for a in range(phi.size):
        exp = np.where(off, d["c2_exp"][a], np.nan)  # the diagonal is not fitted
        fit = np.where(off, d["c2_fit"][a], np.nan)
        z = np.where(off, d["residuals"][a] / sigma[a], np.nan)  # diagonal: not fitted
        lo, hi = np.percentile(np.concatenate([exp[off], fit[off]]), [0.5, 99.5])
        zmax = max(3.0, float(np.percentile(np.abs(z[off]), 99.5)))
        for image, img, lim in zip(images, (exp, fit, z), ((lo, hi), (lo, hi), (-zmax, zmax)),
                                   strict=True):
            image.set_data(img)
            image.set_clim(*lim)
        for bar, image in zip(bars, images[1:], strict=True):
            bar.update_normal(image)
        heading.set_text(f"{q}φ = {phi[a]:.1f}°  (angle {a + 1} of {phi.size})")
        path = out / f"c2_heatmap_phi{a:02d}.png"
        fig.savefig(path, dpi=DPI)
        pdf.savefig(fig)
        paths.append(path)
    pdf.close()
    plt.close(fig)
    return [*paths, pdf_path]


def _cuts(plt, out: Path, d: dict[str, np.ndarray], n_angles: int = 4) -> Path:
    t, phi = d["t"], d["phi"]
    angles = np.unique(np.linspace(0, phi.size - 1, min(n_angles, phi.size)).round().astype(int))
    rows = np.unique(np.linspace(0, t.size // 2, 3).round().astype(int))
    fig, axes = plt.subplots(1, angles.size, figsize=(3.2 * angles.size + 0.6, 3.2),
                             sharey=True, squeeze=False, constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, a in zip(axes[0], angles, strict=True):
        for k, i in enumerate(rows):
            lag = t[i + 1:] - t[i]
            ax.plot(lag, d["c2_exp"][a, i, i + 1:], "o", ms=2.5, alpha=0.6, color=colors[k],
                    label=f"t₁ = {t[i]:.3g} s")
            ax.plot(lag, d["c2_fit"][a, i, i + 1:], "-", lw=1.4, color=colors[k])
        ax.set_title(f"φ = {phi[a]:.1f}°")
        ax.set_xscale("log")
        ax.set_xlabel("lag t₂ − t₁ [s]")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("c₂(t₁, t₂)")
    axes[0, 0].legend(fontsize=7, frameon=False, loc="upper right")
    fig.suptitle("Cuts at fixed t₁: data (points) and fit (lines)")
    path = out / "c2_cuts.png"
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def value_and_error(value: float | None, error: float | None) -> tuple[str, str]:
    """A value and its standard error to the error's first two significant digits, in
    fixed notation for 1e-3 ≤ |value| < 1e5 and with one shared exponent otherwise."""
    if value is None or error is None or not np.isfinite(error) or error <= 0:
        return _fmt(value), _fmt(error)
    decimals = 1 - int(np.floor(np.log10(error)))
    if (value == 0 or 1e-3 <= abs(value) < 1e5) and decimals <= 6:
        d = max(decimals, 0)
        return f"{value:.{d}f}", f"{error:.{d}f}"
    exp = int(np.floor(np.log10(abs(value))))
    m, me = value / 10.0**exp, error / 10.0**exp
    d = max(0, 1 - int(np.floor(np.log10(me))))
    return f"{m:.{d}f}e{exp:+03d}", f"{me:.{d}f}e{exp:+03d}"


def _table(plt, out: Path, p: dict[str, Any]) -> Path:
    params = p["parameters"]
    rows = [[_LABELS.get(n, n), UNITS.get(n, "-"), *value_and_error(v["value"], v["uncertainty"])]
            for n, v in params.items() if not n.startswith(("contrast[", "offset["))]
    for kind in ("contrast", "offset"):
        vals = [v["value"] for n, v in params.items() if n.startswith(kind + "[")]
        if vals:
            rows.append([f"{kind} (per angle)", "-",
                         f"{np.mean(vals):.4g} (mean)", f"{np.std(vals):.2g} (spread)"])
    rows += [["χ²", "", _fmt(p["chi_squared"]), ""],
             ["χ²_red", "", _fmt(p["reduced_chi_squared"]), ""],
             ["quality", "", p["quality_flag"], p["convergence_status"]]]
    fig, ax = plt.subplots(figsize=(6.4, 0.3 * len(rows) + 0.4))
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=["parameter", "unit", "value", "± std. error"],
                     loc="upper center", cellLoc="left", colLoc="left",
                     colWidths=[0.3, 0.12, 0.29, 0.29])
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.3)
    for (r, _), cell in table.get_celld().items():
        if r == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#e6e6e6")
    ax.set_title(f"Fitted parameters ({p['analysis_mode']}, convention {p['convention']}, "
                 f"{p['n_points']:,} points)", fontsize=10)
    path = out / "parameters.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_figures(src: Path, dest: Path) -> list[Path]:
    """Draw the figures of the result files in `src` into `dest` (no staging)."""
    plt = _pyplot()
    for name in (FITTED, PARAMETERS):
        if not (src / name).is_file():
            raise ValueError(f"{src / name}: missing; write the result files first")
    with np.load(src / FITTED, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    p = json.loads((src / PARAMETERS).read_text(encoding="utf-8"))
    with plt.rc_context(STYLE):
        return _heatmaps(plt, dest, d) + [_cuts(plt, dest, d), _table(plt, dest, p)]


def plot_results(out_dir: str | Path) -> list[Path]:
    """Draw the figures of the fit whose result files are in `out_dir`; returns their paths
    (c2_heatmap_phiNN.png per angle, c2_heatmaps.pdf with every angle, c2_cuts.png,
    parameters.png). In Jupyter the notebook's backend is kept (see `_pyplot`).

    The figures appear together (staged, then renamed into place, see `xpcsfit.io.atomic`),
    figures of an earlier fit that this one does not redraw are removed, and they are added
    to the folder's manifest.
    """
    out = Path(out_dir)
    prepare_output_dir(out, "out_dir")
    with staging(out) as stage:
        drawn = draw_figures(out, stage)
        commit(stage, out, is_figure)
    paths = [out / p.name for p in drawn]  # heatmaps, cuts, table
    logger.info("wrote %d figures to %s", len(paths), out)
    return paths
