"""PNG plots of fit time and peak memory vs number of points (log–log) from the results JSON.

Reads the `fit` and `scaling` results (and `streaming`, whose cases carry `points` with
`warm_s` or `seconds`) and writes time_vs_points.png and memory_vs_points.png beside them
(benchmarks/results/ by default). Needs matplotlib (the `plot` extra).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import read_results, results_dir

Key = str | Callable[[dict[str, Any]], float | None]
FIT_SUITES = ("fit", "scaling")
OTHER_SUITES = ("streaming",)


def variant_of(row: dict[str, Any]) -> str | None:
    """A case's configuration within its suite: the `variant` key (streaming rows without
    one are told apart by their `warmup` flag); None for the fit suites."""
    if "variant" in row:
        return str(row["variant"])
    if "warmup" in row:
        return "warmup on" if row["warmup"] else "warmup off"
    return None


def series(key: Key, suites: tuple[str, ...] = FIT_SUITES, folder: Path | None = None,
           variant: str | None = None) -> list[tuple[float, float]]:
    """(points, value) pairs of `key` (or a callable of the row) over the suites' cases of
    one variant, sorted by points."""
    pairs = []
    for suite in suites:
        for row in _cases(suite, folder):
            value = key(row) if callable(key) else row.get(key)
            if row.get("points") and value is not None and variant_of(row) == variant:
                pairs.append((float(row["points"]), float(value)))
    return sorted(pairs)


def variants(suites: tuple[str, ...], folder: Path | None) -> list[str | None]:
    """The distinct variants among the suites' cases, in order of appearance."""
    found = [variant_of(row) for suite in suites for row in _cases(suite, folder)]
    return list(dict.fromkeys(found)) or [None]


def _doc(suite: str, folder: Path | None) -> dict[str, Any] | None:
    """A suite's results, or None if absent or not in the current schema."""
    try:
        return read_results(suite, folder)
    except ValueError:
        return None


def _cases(suite: str, folder: Path | None) -> list[dict[str, Any]]:
    """The cases of a suite's results (none if absent)."""
    doc = _doc(suite, folder)
    return doc["cases"] if doc else []


def _floor(row: dict[str, Any]) -> float | None:
    """passes × one-pass time: what the fit would take doing nothing but data passes."""
    if row.get("passes") is None or row.get("pass_s") is None:
        return None
    return row["passes"] * row["pass_s"]


def _stream_time(row: dict[str, Any]) -> float | None:
    """Wall time of a streaming case (one fit)."""
    return row.get("warm_s", row.get("seconds"))


def _title(folder: Path | None) -> str:
    """Device, cores, jax version and date of the fit (or scaling) results."""
    from benchmarks.report import environment_line

    docs = [d for d in (_doc("fit", folder), _doc("scaling", folder)) if d]
    return environment_line(docs[0]["environment"]) if docs else ""


def _plot(path: Path, ylabel: str, lines: list[tuple[str, str, Key, tuple[str, ...]]],
          title: str, folder: Path | None, reference: tuple[str, float] | None = None) -> Path:
    """Each line: (label, marker, key, suites). The scaling family (same problem, growing
    size) is drawn connected; the mixed `fit` cases as open markers of the same colour.
    `reference` = (label, value per point) adds a dashed proportional line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(10.0, 5.0), dpi=110)
    xs_all, ys_all, colour = [], [], 0
    for label, marker, key, suites in lines:
        family = tuple(s for s in suites if s != "fit")
        loose = series(key, ("fit",), folder) if "fit" in suites else []
        for v in variants(family, folder):
            connected = series(key, family, folder, variant=v)
            xs_all += [x for x, _ in connected + loose]
            ys_all += [y for _, y in connected + loose]
            color = f"C{colour}"
            colour += 1
            name = label if v is None else f"{label}, {v}"
            if connected:
                ax.plot(*zip(*connected, strict=True), marker=marker, color=color, label=name)
            if loose:
                ax.plot(*zip(*loose, strict=True), marker=marker, color=color, linestyle="none",
                        markerfacecolor="none", label=None if connected else name)
    if reference and xs_all:  # drawn where it is within the data's range
        xs = [max(min(xs_all), min(ys_all) / reference[1]), max(xs_all)]
        ax.plot(xs, [x * reference[1] for x in xs], "--", color="gray", label=reference[0])
    ax.plot([], [], "ko", markerfacecolor="none", linestyle="none",
            label="open markers: fit suite\n(3–23 angles, static and laminar)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("fitted points (angles × t1 × t2, diagonal excluded)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              title="lines: laminar flow, 23 angles\n(scaling suite)", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_all(folder: Path | None = None) -> list[Path]:
    """Draw both plots from the stored results; returns the written paths."""
    folder = results_dir() if folder is None else folder
    title = _title(folder)
    time_lines = [
        ("xpcsfit warm fit", "o", "warm_s", FIT_SUITES),
        ("xpcsfit cold fit (incl. compile)", "s", "cold_s", FIT_SUITES),
        ("floor: passes × one-pass time", "v", _floor, FIT_SUITES),
        ("scipy least_squares trf", "^", "scipy_s", FIT_SUITES),
        ("hybrid_streaming, one fit (streaming suite)", "D", _stream_time, OTHER_SUITES),
    ]
    memory_lines = [
        ("xpcsfit peak RSS", "o", "peak_rss_gb", FIT_SUITES),
        ("xpcsfit device peak", "x", "device_peak_gb", FIT_SUITES),
        ("high-water after simulating the data", "s", "data_rss_gb", FIT_SUITES),
        ("scipy trf peak RSS", "^", "scipy_peak_rss_gb", FIT_SUITES),
        ("hybrid_streaming peak RSS (streaming suite)", "D", "peak_rss_gb", OTHER_SUITES),
    ]
    return [_plot(folder / "time_vs_points.png", "wall time (s)", time_lines, title, folder),
            _plot(folder / "memory_vs_points.png", "peak resident memory (GiB)", memory_lines,
                  title, folder, ("data: c2 + σ, 16 B per point", 16 / 1024**3))]
