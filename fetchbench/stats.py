"""Records → one summary row per strategy run, driven by ``SUMMARY_FIELDS``.

Every export (table, markdown, CSV, JSON, the saved results file) takes its
columns, headers and number formats from ``SUMMARY_FIELDS``, so they agree.

Definitions (see DESIGN.md):

- *latency*: request start → last body byte (``Record.latency``).
- *makespan*: earliest request start → latest response end, over every record
  of the run that actually ran (error ``not_run`` excluded).
- *throughput* (``req_per_s``): successful requests ÷ makespan.
- *transfer rate* (``mib_per_s``): body MiB of all records ÷ makespan.
- *wall* (``wall_s``): ``RunMeta.wall_s``, pool/process start-up included.
- percentiles p50/p90/p99 (linear interpolation), max and mean latency, and
  the median ttfb, over **successful** requests only; NaN when none succeeded.
- ``cpu_ms_per_req``: child CPU time ÷ requests that ran (``not_run``
  excluded, as for the makespan, so an interrupted run is not flattered).
- memory (see docs/capacity.md): ``peak_rss_mib``, the peak RSS sum of the
  run's processes (shared pages counted once per process), and
  ``peak_pss_mib``, the peak PSS sum (shared pages split among their sharers:
  the real footprint; NaN where not measured: other OSes, older results).
- cost: ``mib_per_worker`` = peak PSS ÷ workers, or peak RSS ÷ workers where
  PSS is missing (NaN when no memory sample was taken); ``ideal_req_per_s`` = the Little's-law
  ideal, workers ÷ mean latency of successful requests; ``efficiency`` =
  req/s ÷ that ideal.

A run is one ``RunMeta``: one (strategy, workers, cpus, round). Several rounds
of the same configuration stay separate rows here; ``throughput_pivot`` takes
their median.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from fetchbench.record import RECORD_FIELDS, Record, RunMeta

Kind = Literal["str", "int", "float", "bool"]

MIB = 1024 * 1024
NOT_RUN = "not_run"
RUN_KEYS: tuple[str, ...] = ("strategy", "workers", "cpus", "round")

# Canonical display order of strategies; unknown strategies follow, in order of appearance.
STRATEGY_ORDER: tuple[str, ...] = (
    "serial", "process", "thread", "gevent-spawn", "gevent-pool",
    "asyncio", "process-gevent", "process-asyncio", "dask",
)

# Column dtypes of a records DataFrame (as built here or read from a records CSV).
RECORD_DTYPES: dict[str, Any] = {
    "strategy": str,
    "workers": "int64",
    "cpus": "int64",
    "round": "int64",
    "index": "int64",
    "url": str,
    "status": "int64",
    "bytes": "int64",
    "start": "float64",
    "ttfb": "float64",
    "latency": "float64",
    "error": str,
    "message": str,
}

# The record columns ``summarize`` reads (url and message are not needed).
STATS_COLUMNS: tuple[str, ...] = (*RUN_KEYS, "bytes", "start", "ttfb", "latency", "error")


@dataclass(frozen=True, slots=True)
class SummaryField:
    """One summary column: its name, table header, kind and number format.

    ``in_table`` marks the columns of the default table; ``only_if_rounds``
    narrows that to results holding several rounds of one configuration.
    """

    name: str
    header: str
    kind: Kind
    fmt: str = ""
    in_table: bool = False
    only_if_rounds: bool = False

    def format(self, value: Any) -> str:
        """The value as table text; missing values (NaN/None) become "-"."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if self.kind == "bool":
            return "yes" if bool(value) else "no"
        if self.kind == "int":
            return f"{int(value):d}"
        if self.kind == "float":
            return format(float(value), self.fmt)
        return str(value)


SUMMARY_FIELDS: tuple[SummaryField, ...] = (
    SummaryField("strategy", "strategy", "str", in_table=True),
    SummaryField("workers", "workers", "int", in_table=True),
    SummaryField("cpus", "cpus", "int", in_table=True),
    SummaryField("round", "round", "int", in_table=True, only_if_rounds=True),
    SummaryField("requests", "requests", "int", in_table=True),
    SummaryField("ok", "ok", "int", in_table=True),
    SummaryField("errors", "errors", "int", in_table=True),
    SummaryField("mib", "MiB", "float", ".2f", in_table=True),
    SummaryField("wall_s", "wall s", "float", ".2f", in_table=True),
    SummaryField("makespan_s", "makespan s", "float", ".2f"),
    SummaryField("req_per_s", "req/s", "float", ".1f", in_table=True),
    SummaryField("mib_per_s", "MiB/s", "float", ".2f", in_table=True),
    SummaryField("p50_ms", "p50 ms", "float", ".1f", in_table=True),
    SummaryField("p90_ms", "p90 ms", "float", ".1f", in_table=True),
    SummaryField("p99_ms", "p99 ms", "float", ".1f", in_table=True),
    SummaryField("max_ms", "max ms", "float", ".1f", in_table=True),
    SummaryField("mean_ms", "mean ms", "float", ".1f"),
    SummaryField("ttfb_p50_ms", "ttfb p50 ms", "float", ".1f"),
    SummaryField("cpu_s", "cpu s", "float", ".2f"),
    SummaryField("cpu_ms_per_req", "cpu ms/req", "float", ".2f"),
    SummaryField("peak_rss_mib", "peak RSS MiB", "float", ".1f"),
    SummaryField("peak_pss_mib", "peak PSS MiB", "float", ".1f"),
    SummaryField("mib_per_worker", "MiB/worker", "float", ".2f"),
    SummaryField("ideal_req_per_s", "ideal req/s", "float", ".1f"),
    SummaryField("efficiency", "eff. vs ideal", "float", ".2f"),
    SummaryField("complete", "complete", "bool"),
    SummaryField("error_counts", "error counts", "str"),
)

SUMMARY_COLUMNS: tuple[str, ...] = tuple(f.name for f in SUMMARY_FIELDS)
FIELDS_BY_NAME: dict[str, SummaryField] = {f.name: f for f in SUMMARY_FIELDS}

# The RunMeta fields a summary row takes as they are.
_RUN_COLUMNS: tuple[str, ...] = (
    *RUN_KEYS, "wall_s", "cpu_s", "peak_rss_mib", "peak_pss_mib", "complete",
)


def records_frame(records: Iterable[Record]) -> pd.DataFrame:
    """Records as a DataFrame with ``RECORD_FIELDS`` columns and ``RECORD_DTYPES``."""
    frame = pd.DataFrame([r.as_row() for r in records], columns=list(RECORD_FIELDS))
    return frame.astype(RECORD_DTYPES)


def _text(column: pd.Series) -> pd.Series:
    """A string column with missing values as "" (read_csv turns "" into NaN)."""
    return column.astype(object).where(column.notna(), "").astype(str)


def _error_counts(frame: pd.DataFrame, failed: pd.Series) -> pd.DataFrame:
    """Per run, "class:count" pairs of the failed records, most frequent first."""
    keys = list(RUN_KEYS)
    counts = frame.loc[failed, [*keys, "error"]].groupby([*keys, "error"], sort=False).size()
    text: dict[tuple, list[tuple[int, str]]] = {}
    for (*key, error), count in counts.items():
        text.setdefault(tuple(key), []).append((-int(count), str(error)))
    rows = [
        (*key, " ".join(f"{err}:{-neg}" for neg, err in sorted(pairs)))
        for key, pairs in text.items()
    ]
    return pd.DataFrame(rows, columns=[*keys, "error_counts"])


def _aggregate(records: pd.DataFrame) -> pd.DataFrame:
    """Per-run aggregates of a records frame, one row per (strategy, workers, cpus, round)."""
    keys = list(RUN_KEYS)
    frame = pd.DataFrame({k: records[k] for k in keys})
    frame["strategy"] = _text(frame["strategy"])
    for k in keys[1:]:
        frame[k] = frame[k].astype("int64")
    error = _text(records["error"])
    ok = (error == "").to_numpy()
    ran = (error != NOT_RUN).to_numpy()
    start = records["start"].astype("float64")
    end = start + records["latency"].astype("float64")
    frame["ok"] = ok
    frame["ran"] = ran
    frame["bytes"] = records["bytes"].astype("int64")
    frame["first"] = start.where(ran)
    frame["last"] = end.where(ran)
    frame["error"] = error

    agg = frame.groupby(keys, sort=False).agg(
        requests=("ok", "size"),
        ok=("ok", "sum"),
        ran=("ran", "sum"),
        bytes=("bytes", "sum"),
        first=("first", "min"),
        last=("last", "max"),
    )

    success = pd.DataFrame({k: frame.loc[ok, k] for k in keys})
    success["lat_ms"] = records.loc[ok, "latency"].astype("float64") * 1000.0
    success["ttfb_ms"] = records.loc[ok, "ttfb"].astype("float64") * 1000.0
    by_run = success.groupby(keys, sort=False)
    levels = {0.5: "p50_ms", 0.9: "p90_ms", 0.99: "p99_ms"}
    quantiles = by_run["lat_ms"].quantile(list(levels)).unstack()
    quantiles = quantiles.reindex(columns=list(levels)).rename(columns=levels)
    latency = by_run.agg(
        max_ms=("lat_ms", "max"), mean_ms=("lat_ms", "mean"), ttfb_p50_ms=("ttfb_ms", "median")
    )
    agg = agg.join(quantiles).join(latency).reset_index()
    return agg.merge(_error_counts(frame, ~frame["ok"]), on=keys, how="left")


def summarize(records: pd.DataFrame, runs: Sequence[RunMeta]) -> pd.DataFrame:
    """One summary row per run (in the given order), columns ``SUMMARY_COLUMNS``.

    Records of runs not listed in ``runs`` are ignored; a run without records
    still gets a row (zero requests, NaN rates and percentiles).
    """
    return summary_from_aggregates(run_aggregates(records), runs)


def run_aggregates(records: pd.DataFrame) -> pd.DataFrame:
    """The part of ``summarize`` that reads records: one row per run key found in them.

    The aggregates of record sets that share no run key can be concatenated
    and given to ``summary_from_aggregates``: the summary is then the one of
    all those records together (how results.ResultsWriter reads each record once).
    """
    missing = [c for c in STATS_COLUMNS if c not in records.columns]
    if missing:
        if len(records):
            raise ValueError(f"records lack column(s): {', '.join(missing)}")
        return _aggregate(records_frame([]))
    return _aggregate(records)


def summary_from_aggregates(agg: pd.DataFrame, runs: Sequence[RunMeta]) -> pd.DataFrame:
    """``summarize`` from ``run_aggregates`` instead of records (runs-sized work only)."""
    base = pd.DataFrame(
        [tuple(getattr(m, name) for name in _RUN_COLUMNS) for m in runs],
        columns=list(_RUN_COLUMNS),
    )
    base = base.astype({"strategy": str, "workers": "int64", "cpus": "int64", "round": "int64"})
    base = base.astype({"wall_s": "float64", "cpu_s": "float64", "peak_rss_mib": "float64",
                        "peak_pss_mib": "float64"})
    base["complete"] = base["complete"].astype(bool)
    out = base.merge(agg, on=list(RUN_KEYS), how="left")

    for col in ("requests", "ok", "ran", "bytes"):
        out[col] = out[col].fillna(0).astype("int64")
    out["errors"] = out["requests"] - out["ok"]
    out["mib"] = out["bytes"] / MIB
    makespan = out["last"] - out["first"]
    out["makespan_s"] = makespan
    positive = makespan.where(makespan > 0)
    out["req_per_s"] = out["ok"] / positive
    out["mib_per_s"] = out["mib"] / positive
    out["cpu_ms_per_req"] = out["cpu_s"] * 1000.0 / out["ran"].where(out["ran"] > 0)
    out["error_counts"] = _text(out["error_counts"])
    return with_cost(out)[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def with_cost(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with the cost fields filled in where missing (MiB/worker, ideal, efficiency).

    Derived from workers, the memory figure (``memory_mib``), mean_ms and
    req_per_s, so summaries saved before these fields existed get them on load.
    """
    out = summary.copy()
    workers = out["workers"].astype("float64").where(out["workers"] > 0)
    memory = memory_mib(out)
    mean_s = out["mean_ms"].astype("float64") / 1000.0
    ideal = workers / mean_s.where(mean_s > 0)
    derived = {
        "mib_per_worker": memory / workers,
        "ideal_req_per_s": ideal,
        "efficiency": out["req_per_s"].astype("float64") / ideal,
    }
    for name, values in derived.items():
        current = out[name] if name in out.columns else pd.Series(np.nan, index=out.index)
        out[name] = pd.to_numeric(current, errors="coerce").astype("float64").fillna(values)
    return out


def _measured_mib(summary: pd.DataFrame, column: str) -> pd.Series:
    """``column`` as floats, NaN where it was not measured (missing, or 0: no sample)."""
    if column not in summary.columns:  # older results have no PSS
        return pd.Series(np.nan, index=summary.index, dtype="float64")
    values = pd.to_numeric(summary[column], errors="coerce").astype("float64")
    return values.where(values > 0)


def memory_mib(summary: pd.DataFrame) -> pd.Series:
    """The memory a run really held, MiB: peak PSS where measured, else peak RSS.

    NaN where neither was sampled (a run too short for one sample: 0 MiB).
    Works on summaries without ``peak_pss_mib`` (older results): RSS then.
    """
    return _measured_mib(summary, "peak_pss_mib").fillna(_measured_mib(summary, "peak_rss_mib"))


def memory_basis(summary: pd.DataFrame) -> pd.Series:
    """Which peak ``memory_mib`` took per run: "PSS", "RSS", or None (neither measured)."""
    pss = _measured_mib(summary, "peak_pss_mib").notna()
    rss = _measured_mib(summary, "peak_rss_mib").notna()
    basis = pd.Series(None, index=summary.index, dtype="object")
    basis[rss] = "RSS"
    basis[pss] = "PSS"
    return basis


def strategy_rank(strategy: str) -> int:
    """Position of a strategy in the canonical order; unknown ones sort after."""
    try:
        return STRATEGY_ORDER.index(strategy)
    except ValueError:
        return len(STRATEGY_ORDER)


def cpu_label(cpus: int) -> str:
    """Column label of a CPU count: "1 cpu", "2 cpus"."""
    return f"{cpus} cpu" if cpus == 1 else f"{cpus} cpus"


def throughput_pivot(summary: pd.DataFrame) -> pd.DataFrame:
    """Median req/s over rounds: strategies as rows, CPU counts ("1 cpu", …) as columns.

    Rows follow ``STRATEGY_ORDER`` (then other strategies, in order of first
    appearance); a strategy run with several worker counts gets one row per
    count, labelled "strategy (workers)", by increasing workers.
    """
    if summary.empty:
        empty = pd.DataFrame(index=pd.Index([], name="strategy", dtype=object))
        empty.columns.name = None
        return empty
    medians = (
        summary.groupby(["strategy", "workers", "cpus"], sort=False)["req_per_s"]
        .median()
        .reset_index()
    )
    appearance = {s: i for i, s in enumerate(dict.fromkeys(medians["strategy"]))}
    several = medians.groupby("strategy")["workers"].nunique()
    medians["label"] = [
        f"{s} ({w})" if several[s] > 1 else str(s)
        for s, w in zip(medians["strategy"], medians["workers"], strict=True)
    ]
    medians["order"] = [
        (strategy_rank(s), appearance[s], int(w))
        for s, w in zip(medians["strategy"], medians["workers"], strict=True)
    ]
    rows = list(dict.fromkeys(medians.sort_values("order", kind="stable")["label"]))
    cpus = sorted({int(c) for c in medians["cpus"]})
    pivot = medians.pivot(index="label", columns="cpus", values="req_per_s")
    pivot = pivot.reindex(index=rows, columns=cpus).astype("float64")
    pivot.columns = [cpu_label(c) for c in cpus]
    pivot.index = pd.Index(pivot.index, name="strategy", dtype=object)
    return pivot


# The per-configuration view of repeated runs: one row per (strategy, workers,
# cpus), medians over its rounds and the req/s spread. Rates, percentiles and
# costs are medians; requests and errors are totals; max latency is the max.
ROUND_FIELDS: tuple[SummaryField, ...] = (
    SummaryField("strategy", "strategy", "str", in_table=True),
    SummaryField("workers", "workers", "int", in_table=True),
    SummaryField("cpus", "cpus", "int", in_table=True),
    SummaryField("rounds", "rounds", "int", in_table=True),
    SummaryField("requests", "requests (all rounds)", "int", in_table=True),
    SummaryField("errors", "errors (all rounds)", "int", in_table=True),
    SummaryField("req_per_s", "req/s", "float", ".1f", in_table=True),
    SummaryField("req_per_s_min", "req/s min", "float", ".1f", in_table=True),
    SummaryField("req_per_s_max", "req/s max", "float", ".1f", in_table=True),
    SummaryField("req_per_s_iqr", "req/s IQR", "float", ".1f"),
    SummaryField("mib_per_s", "MiB/s", "float", ".2f", in_table=True),
    SummaryField("p50_ms", "p50 ms", "float", ".1f", in_table=True),
    SummaryField("p90_ms", "p90 ms", "float", ".1f"),
    SummaryField("p99_ms", "p99 ms", "float", ".1f", in_table=True),
    SummaryField("max_ms", "max ms (worst round)", "float", ".1f", in_table=True),
    SummaryField("ttfb_p50_ms", "ttfb p50 ms", "float", ".1f"),
    SummaryField("cpu_ms_per_req", "cpu ms/req", "float", ".2f"),
    SummaryField("peak_rss_mib", "peak RSS MiB", "float", ".1f"),
    SummaryField("peak_pss_mib", "peak PSS MiB", "float", ".1f"),
    SummaryField("complete", "complete", "bool"),
)
ROUND_COLUMNS: tuple[str, ...] = tuple(f.name for f in ROUND_FIELDS)
CONFIG_KEYS: tuple[str, ...] = ("strategy", "workers", "cpus")


def round_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per (strategy, workers, cpus) in order of appearance, columns ``ROUND_COLUMNS``.

    Medians over the rounds (so one slow round does not move them), with the
    req/s min, max and interquartile range to show how much the rounds agree.
    """
    if summary.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ROUND_COLUMNS})
    by_config = summary.groupby(list(CONFIG_KEYS), sort=False)
    rate = by_config["req_per_s"]
    out = by_config.agg(
        rounds=("round", "size"),
        requests=("requests", "sum"),
        errors=("errors", "sum"),
        req_per_s=("req_per_s", "median"),
        req_per_s_min=("req_per_s", "min"),
        req_per_s_max=("req_per_s", "max"),
        mib_per_s=("mib_per_s", "median"),
        p50_ms=("p50_ms", "median"),
        p90_ms=("p90_ms", "median"),
        p99_ms=("p99_ms", "median"),
        max_ms=("max_ms", "max"),
        ttfb_p50_ms=("ttfb_p50_ms", "median"),
        cpu_ms_per_req=("cpu_ms_per_req", "median"),
        peak_rss_mib=("peak_rss_mib", "median"),
        peak_pss_mib=("peak_pss_mib", "median"),
        complete=("complete", "all"),
    )
    out["req_per_s_iqr"] = rate.quantile(0.75) - rate.quantile(0.25)
    return out.reset_index()[list(ROUND_COLUMNS)]


def _plain(value: Any, kind: Kind) -> Any:
    """A summary value as a JSON-ready Python value (NaN/inf → None)."""
    if value is None or (isinstance(value, float | np.floating) and not math.isfinite(value)):
        return None
    if value is pd.NA:
        return None
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return bool(value)
    return str(value)


def summary_rows(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """Summary rows as plain dicts in ``SUMMARY_FIELDS`` order, NaN as None."""
    columns = [f for f in SUMMARY_FIELDS if f.name in summary.columns]
    return [
        {f.name: _plain(row[f.name], f.kind) for f in columns} for row in summary.to_dict("records")
    ]


def summary_from_rows(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The inverse of ``summary_rows``: a summary DataFrame (missing values NaN)."""
    frame = pd.DataFrame(list(rows), columns=list(SUMMARY_COLUMNS))
    for f in SUMMARY_FIELDS:
        col = frame[f.name]
        if f.kind == "float":
            frame[f.name] = pd.to_numeric(col, errors="coerce").astype("float64")
        elif f.kind == "int" and col.notna().all():
            frame[f.name] = col.astype("int64")
        elif f.kind == "bool" and col.notna().all():
            frame[f.name] = col.astype(bool)
        elif f.kind == "str":
            frame[f.name] = _text(col)
    return with_cost(frame)
