"""Sweeps → capacity tables: throughput by workers, CPU scaling, the knee.

Pure functions over a summary DataFrame (``stats.SUMMARY_FIELDS`` columns);
nothing here measures, prints or plots. A *configuration* is one
(strategy, workers, cpus); its figures are the median over its rounds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from fetchbench.stats import CONFIG_KEYS, cpu_label, strategy_rank

KNEE_FRACTION = 0.9

# Columns of ``configurations``: medians over rounds of these summary fields.
MEDIAN_FIELDS: tuple[str, ...] = (
    "req_per_s",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "cpu_ms_per_req",
    "peak_rss_mib",
    "peak_pss_mib",
    "mib_per_worker",
    "ideal_req_per_s",
    "efficiency",
)


def strategy_sort_key(name: str) -> tuple[int, str]:
    """Canonical strategy order (``STRATEGY_ORDER``), unknown names after, by name."""
    return strategy_rank(name), name


def configurations(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per (strategy, workers, cpus): medians over rounds, plus ``rounds``.

    Sorted by strategy order, then workers, then cpus; ``errors`` is the sum
    over rounds and ``complete`` is True only if every round completed.
    """
    columns = [*CONFIG_KEYS, "rounds", *MEDIAN_FIELDS, "errors", "requests", "complete"]
    if summary.empty:
        return pd.DataFrame(columns=columns)
    grouped = summary.groupby(list(CONFIG_KEYS), sort=False)
    out = grouped[list(MEDIAN_FIELDS)].median()
    out["rounds"] = grouped.size()
    out["errors"] = grouped["errors"].sum()
    out["requests"] = grouped["requests"].sum()
    out["complete"] = grouped["complete"].all().astype(bool)
    out = out.reset_index()
    out["workers"] = out["workers"].astype("int64")
    out["cpus"] = out["cpus"].astype("int64")
    order = sorted(
        range(len(out)),
        key=lambda i: (strategy_sort_key(str(out.at[i, "strategy"])),
                       int(out.at[i, "workers"]), int(out.at[i, "cpus"])),
    )
    return out.iloc[order][columns].reset_index(drop=True)


def is_worker_sweep(summary: pd.DataFrame) -> bool:
    """True when some strategy was run with several worker counts at one CPU count."""
    if summary.empty:
        return False
    counts = summary.groupby(["strategy", "cpus"], sort=False)["workers"].nunique()
    return bool((counts > 1).any())


def is_cpu_sweep(summary: pd.DataFrame) -> bool:
    """True when some (strategy, workers) was run at several CPU counts."""
    if summary.empty:
        return False
    counts = summary.groupby(["strategy", "workers"], sort=False)["cpus"].nunique()
    return bool((counts > 1).any())


def workers_pivot(summary: pd.DataFrame) -> pd.DataFrame:
    """Median req/s: strategies as rows, worker counts as columns ("1", "4", …).

    With several CPU counts a strategy gets one row per count, labelled
    "thread, 2 cpus". Cells a configuration did not run are NaN.
    """
    configs = configurations(summary)
    if configs.empty:
        return pd.DataFrame(index=pd.Index([], name="strategy", dtype=object))
    several_cpus = configs["cpus"].nunique() > 1
    configs["label"] = [
        f"{s}, {cpu_label(int(c))}" if several_cpus else str(s)
        for s, c in zip(configs["strategy"], configs["cpus"], strict=True)
    ]
    rows = _rows_in_order(configs, ["strategy", "cpus"])
    workers = sorted({int(w) for w in configs["workers"]})
    pivot = configs.pivot(index="label", columns="workers", values="req_per_s")
    pivot = pivot.reindex(index=rows, columns=workers).astype("float64")
    pivot.columns = [str(w) for w in workers]
    pivot.index = pd.Index(pivot.index, name="strategy", dtype=object)
    return pivot


def cpu_scaling(summary: pd.DataFrame) -> pd.DataFrame:
    """Median req/s by CPU count with speed-up and scaling efficiency, per (strategy, workers).

    The baseline is the fewest CPUs in the results (1 when measured): for k
    CPUs, ``speed-up k`` = req/s(k) ÷ req/s(base) and ``efficiency k`` =
    speed-up ÷ (k ÷ base), so 1.0 is linear scaling. Columns: req/s under
    "1 cpu", "2 cpus"… for every count, then "speed-up 2 cpus" and
    "efficiency 2 cpus"… for each count above the baseline; rows labelled
    like ``stats.throughput_pivot``.
    """
    configs = configurations(summary)
    if configs.empty:
        return pd.DataFrame(index=pd.Index([], name="strategy", dtype=object))
    several = configs.groupby("strategy")["workers"].nunique()
    configs["label"] = [
        f"{s} ({w})" if several[s] > 1 else str(s)
        for s, w in zip(configs["strategy"], configs["workers"], strict=True)
    ]
    rows = _rows_in_order(configs, ["strategy", "workers"])
    counts = sorted({int(c) for c in configs["cpus"]})
    rps = configs.pivot(index="label", columns="cpus", values="req_per_s")
    rps = rps.reindex(index=rows, columns=counts).astype("float64")
    base = counts[0]
    out = pd.DataFrame(index=pd.Index(rows, name="strategy", dtype=object))
    for k in counts:
        out[cpu_label(k)] = rps[k]
    for k in counts[1:]:
        speedup = rps[k] / rps[base].where(rps[base] > 0)
        out[f"speed-up {cpu_label(k)}"] = speedup
        out[f"efficiency {cpu_label(k)}"] = speedup / (k / base)
    out.attrs["baseline_cpus"] = base
    return out


def _rows_in_order(configs: pd.DataFrame, keys: list[str]) -> list[str]:
    """Labels in canonical strategy order, then by the numeric keys."""
    ordered = sorted(
        zip(configs["label"], *(configs[k] for k in keys), strict=True),
        key=lambda t: (strategy_sort_key(str(t[1])), *(int(v) for v in t[2:])),
    )
    return list(dict.fromkeys(label for label, *_ in ordered))


@dataclass(frozen=True)
class Point:
    """One measured configuration of a strategy on the throughput curve."""

    workers: int
    cpus: int
    req_per_s: float


def knee(points: Iterable[Point], fraction: float = KNEE_FRACTION) -> Point | None:
    """The saturation point: fewest workers (then fewest CPUs) reaching ``fraction`` of the best.

    Points with no throughput (NaN) are ignored; None when none is left.
    """
    usable = [p for p in points if not math.isnan(p.req_per_s)]
    if not usable:
        return None
    best = max(p.req_per_s for p in usable)
    reaching = [p for p in usable if p.req_per_s >= fraction * best]
    return min(reaching, key=lambda p: (p.workers, p.cpus))
