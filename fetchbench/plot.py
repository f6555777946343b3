"""``fetchbench plot``: PNG figures of a saved results file (matplotlib, Agg backend).

Reads results, never re-measures. Every figure is ``FIGSIZE`` at ``DPI``
(800 × 500 pixels), with a title, axis labels with units, and a caption line
naming the host, its CPU count and the date of the run. Where a figure shows
one configuration per strategy it is the strategy's *representative* one:
its highest median throughput (ties: fewest workers, then fewest CPUs).
matplotlib is imported inside the functions, so the CLI stays fast.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from fetchbench.capacity import configurations, strategy_sort_key
from fetchbench.errors import InputError, UsageError
from fetchbench.stats import STRATEGY_ORDER, cpu_label, memory_basis, memory_mib

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from fetchbench.results import Results

FIGSIZE = (8.0, 5.0)  # inches
DPI = 100
PIXELS = (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))  # width, height of every PNG


@dataclass(frozen=True)
class PlotSpec:
    """One figure: its file stem, title and how to draw it from loaded results."""

    name: str
    title: str
    draw: Callable[[Results, Figure], None]


# -- helpers ---------------------------------------------------------------------


def _figure() -> Figure:
    """A blank figure of the standard size, not tied to pyplot's global state."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=FIGSIZE, dpi=DPI)


def palette(summary: pd.DataFrame) -> dict[str, Any]:
    """One colour per strategy, the same in every figure of these results.

    Known strategies keep their place in ``STRATEGY_ORDER``; others follow, by name.
    """
    from matplotlib import colormaps

    colors = colormaps["tab10"]
    others = sorted({str(s) for s in summary["strategy"]} - set(STRATEGY_ORDER))
    ranks = {name: i for i, name in enumerate([*STRATEGY_ORDER, *others])}
    return {name: colors(rank % 10) for name, rank in ranks.items()}


def caption(meta: dict[str, Any]) -> str:
    """"host h · 2 CPUs available (of 4) · 2026-11-27 08:02 UTC" from the results' metadata."""
    machine = meta.get("machine") or {}
    host = machine.get("host") or "unknown host"
    available, total = machine.get("cpus_available"), machine.get("cpu_count")
    if available and total and available != total:
        cpus = f"{available} CPUs available (of {total})"
    else:
        count = available or total
        cpus = f"{count} CPU{'s' if count != 1 else ''}" if count else "CPU count unknown"
    created = str(meta.get("created") or "date unknown")
    date = created.replace("T", " ").replace("Z", " UTC") if "T" in created else created
    return f"host {host} · {cpus} · {date.strip()}"


def _finish(fig: Figure, meta: dict[str, Any], title: str) -> None:
    """Title on top, caption at the bottom, tight layout in between."""
    fig.suptitle(title, fontsize=13, fontweight="bold")
    fig.text(0.01, 0.012, caption(meta), fontsize=8, color="0.35", ha="left", va="bottom")
    fig.tight_layout(rect=(0.0, 0.04, 1.0, 0.97))


def representatives(summary: pd.DataFrame) -> pd.DataFrame:
    """Per strategy, its highest-throughput configuration (medians over rounds)."""
    configs = configurations(summary)
    if configs.empty:
        return configs
    configs = configs.assign(_rps=configs["req_per_s"].fillna(-1.0))
    ordered = configs.sort_values(["_rps", "workers", "cpus"], ascending=[False, True, True],
                                  kind="stable")
    best = ordered.groupby("strategy", sort=False).head(1)
    order = sorted(range(len(best)), key=lambda i: strategy_sort_key(str(best.iloc[i]["strategy"])))
    return best.iloc[order].drop(columns="_rps").reset_index(drop=True)


def _config_label(row: Any, several_cpus: bool = True) -> str:
    """e.g. "thread\\n16 workers, 2 cpus"."""
    workers = int(row["workers"])
    text = f"{row['strategy']}\n{workers} worker{'s' if workers != 1 else ''}"
    return f"{text}, {cpu_label(int(row['cpus']))}" if several_cpus else text


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in these results", ha="center", va="center",
            transform=ax.transAxes, color="0.4")


# -- the figures --------------------------------------------------------------------


def draw_throughput_vs_workers(results: Results, fig: Figure) -> None:
    """req/s against pool size, one line per strategy (and CPU count), log x."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    ax = fig.add_subplot()
    configs = configurations(results.summary)
    several_cpus = configs["cpus"].nunique() > 1
    colors = palette(results.summary)
    styles = ["-", "--", ":", "-."]
    cpu_counts = sorted({int(c) for c in configs["cpus"]}, reverse=True)
    for (strategy, cpus), group in sorted(
        configs.groupby(["strategy", "cpus"], sort=False),
        key=lambda item: (strategy_sort_key(str(item[0][0])), int(item[0][1])),
    ):
        label = f"{strategy}, {cpu_label(int(cpus))}" if several_cpus else str(strategy)
        ax.plot(group["workers"], group["req_per_s"], marker="o",
                linestyle=styles[cpu_counts.index(int(cpus)) % len(styles)],
                color=colors[str(strategy)], label=label)
    workers = sorted({int(w) for w in configs["workers"]})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(workers))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("workers (pool size; log scale)")
    ax.set_ylabel("throughput (req/s)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if configs.empty:
        _no_data(ax, "runs")
    else:
        ax.legend(fontsize=8, ncol=2 if len(ax.lines) > 6 else 1)


def draw_throughput_by_cpus(results: Results, fig: Figure) -> None:
    """Grouped bars: per strategy (at its representative worker count), req/s per CPU count."""
    ax = fig.add_subplot()
    configs = configurations(results.summary)
    best = representatives(results.summary)
    counts = sorted({int(c) for c in configs["cpus"]})
    width = 0.8 / max(1, len(counts))
    for j, cpus in enumerate(counts):
        heights = []
        for _, rep in best.iterrows():
            match = configs[(configs["strategy"] == rep["strategy"])
                            & (configs["workers"] == rep["workers"]) & (configs["cpus"] == cpus)]
            heights.append(float(match["req_per_s"].iloc[0]) if len(match) else 0.0)
        xs = [i + (j - (len(counts) - 1) / 2) * width for i in range(len(best))]
        bars = ax.bar(xs, heights, width, label=cpu_label(cpus),
                      color=f"C{j}", edgecolor="white")
        ax.bar_label(bars, labels=[f"{h:.0f}" if h else "" for h in heights], fontsize=7,
                     padding=2)
    _finish_bars(ax, best, several=False, xlabel="strategy (at its highest-throughput worker "
                 "count)", ylabel="throughput (req/s)", legend="CPUs")


def draw_latency_percentiles(results: Results, fig: Figure) -> None:
    """Grouped bars: p50, p90, p99 latency of each strategy's representative configuration."""
    ax = fig.add_subplot()
    best = representatives(results.summary)
    levels = [("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99")]
    width = 0.8 / len(levels)
    for j, (column, label) in enumerate(levels):
        heights = [0.0 if pd.isna(v) else float(v) for v in best[column]]
        xs = [i + (j - 1) * width for i in range(len(best))]
        bars = ax.bar(xs, heights, width, label=label, color=f"C{j}", edgecolor="white")
        ax.bar_label(bars, labels=[f"{h:.0f}" for h in heights], fontsize=7, padding=2)
    _finish_bars(ax, best, several=best["cpus"].nunique() > 1,
                 xlabel="strategy (at its highest-throughput configuration)",
                 ylabel="latency (ms)", legend="percentile")


def _finish_bars(ax, best: pd.DataFrame, several: bool, xlabel: str, ylabel: str,
                 legend: str) -> None:
    """The common dress of a grouped-bar figure: one tick per configuration, labels,
    grid, headroom for the value labels, and a legend (or "no data")."""
    ax.set_xticks(range(len(best)))
    ax.set_xticklabels([_config_label(r, several) for _, r in best.iterrows()], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    ax.margins(y=0.12)
    if best.empty:
        _no_data(ax, "runs")
    else:
        ax.legend(title=legend, fontsize=8)


def draw_latency_cdf(results: Results, fig: Figure) -> None:
    """Empirical CDF of successful latencies, per strategy (representative configuration)."""
    import numpy as np

    ax = fig.add_subplot()
    records = results.records()
    colors = palette(results.summary)
    best = representatives(results.summary)
    several = best["cpus"].nunique() > 1
    ok = records["error"].astype(str) == ""
    lowest, highest = math.inf, 0.0
    for _, rep in best.iterrows():
        mask = (ok & (records["strategy"] == rep["strategy"])
                & (records["workers"] == rep["workers"]) & (records["cpus"] == rep["cpus"]))
        ms = np.sort(records.loc[mask, "latency"].to_numpy(dtype=float) * 1000.0)
        if not len(ms):
            continue
        lowest, highest = min(lowest, ms[0]), max(highest, ms[-1])
        share = np.arange(1, len(ms) + 1) / len(ms)
        label = _config_label(rep, several).replace("\n", ", ") + f" (n={len(ms)})"
        ax.step(ms, share, where="post", color=colors[str(rep["strategy"])], label=label)
    if highest > 0 and lowest > 0 and highest / lowest > 20:
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.set_xlabel("latency (ms, log scale)")
    else:
        ax.set_xlabel("latency (ms)")
    ax.set_ylabel("share of successful requests ≤ latency")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8, loc="best")
    else:
        _no_data(ax, "successful requests")


def draw_cost(results: Results, fig: Figure) -> None:
    """Two panels: CPU ms per request and peak MiB, per strategy (representative configuration).

    Memory is the peak PSS sum (the real footprint) where measured, else the peak
    RSS sum; where both exist the RSS sum is drawn behind, outlined, to show
    what counting shared pages once per process would have said.
    """
    best = representatives(results.summary)
    several = best["cpus"].nunique() > 1
    labels = [_config_label(r, several).replace("\n", "\n(") + ")" for _, r in best.iterrows()]
    by_strategy = palette(results.summary)
    colors = [by_strategy[str(s)] for s in best["strategy"]]
    rows = list(range(len(best)))[::-1]  # first strategy on top
    memory = memory_mib(best)
    has_pss = memory_basis(best) == "PSS"
    kind = ("peak PSS" if has_pss.all() else "peak RSS" if not has_pss.any()
            else "peak PSS; RSS where no PSS")
    panels = [
        (best["cpu_ms_per_req"], "CPU time per request (ms)", "CPU (user + system)", "{:.2f}"),
        (memory, "peak memory (MiB)", f"memory ({kind}, all processes)", "{:.0f}"),
    ]
    first = None
    for k, (column, xlabel, title, fmt) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1, sharey=first)
        first = first or ax
        if k == 1 and has_pss.any():
            rss = [float(v) if shown and pd.notna(v) else 0.0
                   for v, shown in zip(best["peak_rss_mib"], has_pss, strict=True)]
            ax.barh(rows, rss, color="none", edgecolor="#999", linestyle="--",
                    label="RSS sum (shared pages counted per process)")
            ax.legend(fontsize=7, loc="lower right")
        values = [0.0 if pd.isna(v) else float(v) for v in column]
        bars = ax.barh(rows, values, color=colors, edgecolor="white")
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], fontsize=7, padding=2)
        ax.set_yticks(rows)
        ax.set_yticklabels(labels, fontsize=8)
        ax.tick_params(axis="y", labelleft=k == 0)
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
        ax.margins(x=0.15)
        if best.empty:
            _no_data(ax, "runs")


PLOTS: tuple[PlotSpec, ...] = (
    PlotSpec("throughput_vs_workers", "Throughput vs workers", draw_throughput_vs_workers),
    PlotSpec("throughput_by_cpus", "Throughput across CPU counts", draw_throughput_by_cpus),
    PlotSpec("latency_percentiles", "Latency percentiles per strategy", draw_latency_percentiles),
    PlotSpec("latency_cdf", "Latency distribution (CDF) per strategy", draw_latency_cdf),
    PlotSpec("cost", "Cost per strategy: CPU and memory", draw_cost),
)
PLOT_NAMES: tuple[str, ...] = tuple(p.name for p in PLOTS)


# -- rendering ---------------------------------------------------------------------


def render_png(results: Results, spec: PlotSpec) -> bytes:
    """One figure as PNG bytes (``PIXELS`` in size)."""
    fig = _figure()
    spec.draw(results, fig)
    _finish(fig, results.meta, spec.title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def render_all(results: Results) -> tuple[dict[str, bytes], list[str]]:
    """Every figure that can be drawn, as PNG bytes by name, and warnings for the rest.

    A figure needing the records CSV is skipped (with a warning) when it is gone.
    """
    if results.summary.empty:
        raise InputError(f"{results.path}: no runs to plot")
    pngs: dict[str, bytes] = {}
    warnings: list[str] = []
    for spec in PLOTS:
        try:
            pngs[spec.name] = render_png(results, spec)
        except InputError as exc:
            warnings.append(f"{spec.name}: skipped ({exc})")
    return pngs, warnings


def write_plots(results: Results, directory: str | Path) -> tuple[list[Path], list[str]]:
    """Write ``<name>.png`` for every figure into ``directory``; paths and warnings."""
    out = check_output_dir(directory)
    pngs, warnings = render_all(results)
    paths = []
    for name, data in pngs.items():
        path = out / f"{name}.png"
        _write_atomically(path, data)
        paths.append(path)
    return paths, warnings


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (never half a PNG); a one-line UsageError if impossible."""
    from fetchbench.results import atomic_write_bytes

    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def check_output_dir(directory: str | Path) -> Path:
    """Create the plot directory if needed; a one-line UsageError if that is impossible."""
    from fetchbench.results import ensure_directory

    return ensure_directory(directory, "plot directory")


def plot_results(path: str | Path, directory: str | Path) -> list[Path]:
    """Load a results file and write its plots (warnings go to stderr); the PNG paths."""
    from fetchbench.results import load_results

    paths, warnings = write_plots(load_results(path), directory)
    for warning in warnings:
        print(f"fetchbench: warning: {warning}", file=sys.stderr)
    return paths


def plot_command(args: list[str]) -> int:
    """``fetchbench plot RESULTS.json -o DIR``: write the PNG figures of a saved run."""
    from fetchbench.cli import Parser

    parser = Parser(prog="fetchbench plot",
                    description="Draw the PNG plots of a saved run: "
                                + ", ".join(f"{p.name}.png" for p in PLOTS) + ".")
    parser.add_argument("file", metavar="RESULTS.json")
    parser.add_argument("-o", "--output", default="plots", metavar="DIR",
                        help="directory for the PNG files (default: ./plots)")
    ns = parser.parse_args(args)
    for path in plot_results(ns.file, ns.output):
        print(path)
    return 0
