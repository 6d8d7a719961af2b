"""The README's Benchmarks tables, from the stored results: `python -m benchmarks.report`.

Prints (and writes to results/summary.md) a condensed table of the `fit` and `scaling`
suites with the environment line each was measured in, so the README is pasted from the
JSON, never typed.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import markdown_table, read_results, results_dir

COLUMNS = [("case", "case", "s"), ("points", "points", ","), ("params", "p", "d"),
           ("strategy", "strategy", "s"), ("cold_s", "cold s", ".2f"),
           ("warm_s", "warm s", ".3f"), ("passes", "passes", "d"), ("pass_ms", "pass ms", ".1f"),
           ("overhead", "overhead", ".2f"), ("pass_gflops", "pass GFLOP/s", ".1f"),
           ("points_per_s", "points/s", ".2g"), ("chi2_red", "χ²_red", ".4f"),
           ("max_z", "max \\|Δ\\|/σ", ".2f"), ("peak_rss_gb", "RSS GiB", ".2f"),
           ("scipy_s", "scipy s", ".1f"), ("ratio", "scipy/xpcsfit", ".0f"),
           ("scipy_peak_rss_gb", "scipy RSS GiB", ".2f")]


def environment_line(env: dict) -> str:
    """One line: device, cores, versions, date and load average of a results file."""
    kinds = sorted({d["kind"] for d in env.get("devices", [])})
    device = env["cpu"] if env.get("backend") == "cpu" else ", ".join(kinds)
    load = env.get("load_average")
    busy = f", load average {load[0]:.1f}" if load else ""
    return (f"{device}, {env.get('cpu_count')} cores ({env.get('backend')}), jax "
            f"{env.get('jax')}, {env.get('date')}{busy}")


def summary(suites: tuple[str, ...] = ("fit", "scaling"), folder: Path | None = None) -> str:
    """Markdown: per suite, the environment line and the condensed table."""
    parts = []
    for suite in suites:
        doc = read_results(suite, folder)
        if doc is not None:
            parts.append(f"`{suite}`: {environment_line(doc['environment'])}\n\n"
                         + markdown_table(doc["cases"], COLUMNS))
    return "\n\n".join(parts)


def write_summary(folder: Path | None = None) -> Path:
    """Write `summary(folder)` to summary.md in the results folder."""
    path = (results_dir() if folder is None else folder) / "summary.md"
    path.write_text(summary(folder=folder) + "\n")
    return path


if __name__ == "__main__":
    print(write_summary().read_text())
