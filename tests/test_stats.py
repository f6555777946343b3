"""Tests of fetchbench.stats: metric definitions, edge cases, the pivot."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fetchbench.record import Record, RunMeta
from fetchbench.stats import (
    MIB,
    SUMMARY_COLUMNS,
    SUMMARY_FIELDS,
    records_frame,
    summarize,
    summary_from_rows,
    summary_rows,
    throughput_pivot,
)


def rec(
    strategy="thread",
    workers=2,
    cpus=1,
    rnd=0,
    index=0,
    *,
    start=0.0,
    latency=0.1,
    ttfb=0.01,
    nbytes=1000,
    error="",
    status=200,
) -> Record:
    return Record(
        strategy,
        workers,
        cpus,
        rnd,
        index,
        f"http://h/{index}",
        status,
        nbytes,
        start,
        ttfb,
        latency,
        error,
        "",
    )


def one(summary: pd.DataFrame, **where) -> pd.Series:
    """The single summary row matching ``where``."""
    mask = pd.Series(True, index=summary.index)
    for k, v in where.items():
        mask &= summary[k] == v
    rows = summary[mask]
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.fixture
def example() -> tuple[pd.DataFrame, list[RunMeta]]:
    """A hand-computed run: 4 successes, 2 timeouts, 1 not_run."""
    records = [
        rec(index=0, start=0.0, latency=0.100, ttfb=0.010, nbytes=MIB),
        rec(index=1, start=0.0, latency=0.200, ttfb=0.020, nbytes=MIB),
        rec(index=2, start=0.1, latency=0.300, ttfb=0.030, nbytes=MIB),
        rec(index=3, start=0.2, latency=0.400, ttfb=0.040, nbytes=MIB),
        # errors take part in the makespan but not in the percentiles
        rec(index=4, start=0.3, latency=0.700, nbytes=0, error="timeout", status=0),
        rec(index=5, start=0.05, latency=5.000, nbytes=MIB, error="timeout", status=0),
        # never ran: excluded from the makespan even though its times are wild
        rec(index=6, start=99.0, latency=99.0, nbytes=0, error="not_run", status=0),
    ]
    runs = [RunMeta("thread", 2, 1, 0, wall_s=6.0, cpu_s=0.3, peak_rss_mib=50.0)]
    return records_frame(records), runs


def test_fields_are_one_list_in_display_order():
    names = [f.name for f in SUMMARY_FIELDS]
    assert names == list(SUMMARY_COLUMNS)
    assert len(set(names)) == len(names)
    assert names[:4] == ["strategy", "workers", "cpus", "round"]
    assert names[-2:] == ["complete", "error_counts"]
    default = [f.name for f in SUMMARY_FIELDS if f.in_table and not f.only_if_rounds]
    assert default == [
        "strategy",
        "workers",
        "cpus",
        "requests",
        "ok",
        "errors",
        "mib",
        "wall_s",
        "req_per_s",
        "mib_per_s",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
    ]


def test_metrics_of_a_hand_computed_run(example):
    records, runs = example
    row = summarize(records, runs).iloc[0]
    assert (row.requests, row.ok, row.errors) == (7, 4, 3)
    # makespan: first start 0.0 → last end 0.05 + 5.0 (not_run excluded)
    assert row.makespan_s == pytest.approx(5.05)
    assert row.req_per_s == pytest.approx(4 / 5.05)
    assert row.mib == pytest.approx(5.0)
    assert row.mib_per_s == pytest.approx(5.0 / 5.05)
    assert row.wall_s == 6.0
    # percentiles over successes only: 100, 200, 300, 400 ms (linear interpolation)
    assert row.p50_ms == pytest.approx(250.0)
    assert row.p90_ms == pytest.approx(370.0)
    assert row.p99_ms == pytest.approx(397.0)
    assert row.max_ms == pytest.approx(400.0)
    assert row.mean_ms == pytest.approx(250.0)
    assert row.ttfb_p50_ms == pytest.approx(25.0)
    # cpu per request that ran: 0.3 s over 6 requests
    assert row.cpu_ms_per_req == pytest.approx(50.0)
    assert row.peak_rss_mib == 50.0
    assert row.complete
    assert row.error_counts == "timeout:2 not_run:1"


def test_one_row_per_run_in_given_order_with_zero_record_runs():
    records = records_frame([rec("serial", 1, 1), rec("thread", 4, 2), rec("ghost", 1, 1)])
    runs = [RunMeta("thread", 4, 2, 0), RunMeta("process", 8, 2, 0), RunMeta("serial", 1, 1, 0)]
    summary = summarize(records, runs)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert list(summary["strategy"]) == ["thread", "process", "serial"]  # "ghost" ignored
    empty = one(summary, strategy="process")
    assert (empty.requests, empty.ok, empty.errors, empty.mib) == (0, 0, 0, 0.0)
    for col in ("makespan_s", "req_per_s", "mib_per_s", "p50_ms", "max_ms", "cpu_ms_per_req"):
        assert math.isnan(empty[col]), col
    assert empty.error_counts == ""


def test_all_error_run_has_zero_throughput_and_no_percentiles():
    records = records_frame(
        [rec(index=i, start=0.1 * i, error="http_5xx", status=503) for i in range(3)]
    )
    row = summarize(records, [RunMeta("thread", 2, 1, 0)]).iloc[0]
    assert (row.ok, row.errors) == (0, 3)
    assert row.req_per_s == 0.0
    assert row.makespan_s == pytest.approx(0.3)
    for col in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms", "ttfb_p50_ms"):
        assert math.isnan(row[col]), col
    assert row.error_counts == "http_5xx:3"


def test_only_not_run_records_give_nan_makespan():
    records = records_frame([rec(index=i, error="not_run", status=0) for i in range(2)])
    row = summarize(records, [RunMeta("thread", 2, 1, 0, complete=False)]).iloc[0]
    assert (row.requests, row.errors) == (2, 2)
    assert math.isnan(row.makespan_s) and math.isnan(row.req_per_s)
    assert math.isnan(row.cpu_ms_per_req)
    assert not row.complete


def test_no_records_at_all():
    runs = [RunMeta("serial", 1, 1, 0)]
    for records in (pd.DataFrame(), records_frame([])):
        summary = summarize(records, runs)
        assert len(summary) == 1 and summary.iloc[0].requests == 0
    assert summarize(pd.DataFrame(), []).empty


def test_empty_error_read_as_nan_counts_as_success():
    records = records_frame([rec(index=0), rec(index=1, error="timeout")])
    records["error"] = records["error"].replace("", float("nan"))
    row = summarize(records, [RunMeta("thread", 2, 1, 0)]).iloc[0]
    assert (row.ok, row.errors, row.error_counts) == (1, 1, "timeout:1")


def test_rounds_stay_separate_rows():
    records = records_frame([rec(rnd=0, latency=0.1), rec(rnd=1, latency=0.2)])
    runs = [RunMeta("thread", 2, 1, 0), RunMeta("thread", 2, 1, 1)]
    summary = summarize(records, runs)
    assert list(summary["round"]) == [0, 1]
    assert list(summary["p50_ms"]) == pytest.approx([100.0, 200.0])


def _summary(rows: list[tuple[str, int, int, int, float]]) -> pd.DataFrame:
    """A summary with only the columns the pivot reads."""
    return pd.DataFrame(rows, columns=["strategy", "workers", "cpus", "round", "req_per_s"])


def test_pivot_orders_strategies_and_cpus_and_takes_median_of_rounds():
    summary = _summary(
        [
            ("custom", 4, 1, 0, 5.0),
            ("gevent-pool", 4, 2, 0, 40.0),
            ("thread", 4, 1, 0, 10.0),
            ("thread", 4, 1, 1, 30.0),
            ("thread", 4, 1, 2, 20.0),
            ("serial", 1, 1, 0, 1.0),
            ("serial", 1, 2, 0, 1.5),
        ]
    )
    pivot = throughput_pivot(summary)
    assert list(pivot.index) == ["serial", "thread", "gevent-pool", "custom"]
    assert list(pivot.columns) == ["1 cpu", "2 cpus"]
    assert pivot.index.name == "strategy"
    assert pivot.loc["thread", "1 cpu"] == 20.0  # median of 10, 30, 20
    assert pivot.loc["serial", "2 cpus"] == 1.5
    assert math.isnan(pivot.loc["thread", "2 cpus"])


def test_pivot_labels_rows_by_workers_when_a_strategy_has_several():
    summary = _summary(
        [
            ("thread", 16, 4, 0, 160.0),
            ("thread", 4, 4, 0, 40.0),
            ("process", 4, 12, 0, 41.0),
            ("gevent-spawn", 1, 4, 0, 99.0),
        ]
    )
    pivot = throughput_pivot(summary)
    assert list(pivot.index) == ["process", "thread (4)", "thread (16)", "gevent-spawn"]
    assert list(pivot.columns) == ["4 cpus", "12 cpus"]
    assert pivot.loc["thread (16)", "4 cpus"] == 160.0


def test_pivot_of_empty_summary():
    pivot = throughput_pivot(summarize(pd.DataFrame(), []))
    assert pivot.empty and pivot.index.name == "strategy"


def test_summary_rows_round_trip_with_nan_as_none(example):
    records, runs = example
    summary = summarize(records, [*runs, RunMeta("serial", 1, 1, 0)])
    rows = summary_rows(summary)
    assert list(rows[0]) == list(SUMMARY_COLUMNS)
    assert rows[1]["p50_ms"] is None and rows[1]["requests"] == 0
    assert isinstance(rows[0]["requests"], int) and isinstance(rows[0]["complete"], bool)
    pd.testing.assert_frame_equal(summary_from_rows(rows), summary)


record_strategy = st.builds(
    rec,
    index=st.integers(0, 5),
    start=st.floats(0, 10, allow_nan=False),
    latency=st.floats(0, 10, allow_nan=False),
    ttfb=st.floats(0, 1, allow_nan=False),
    nbytes=st.integers(0, 10**6),
    error=st.sampled_from(["", "", "timeout", "http_4xx", "not_run"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(record_strategy, max_size=30))
def test_invariants_hold_for_any_records(records):
    row = summarize(records_frame(records), [RunMeta("thread", 2, 1, 0)]).iloc[0]
    assert row.requests == len(records) == row.ok + row.errors
    if row.ok:
        assert row.p50_ms <= row.p90_ms + 1e-9 <= row.p99_ms + 2e-9 <= row.max_ms + 3e-9
    else:
        assert math.isnan(row.p50_ms)
    if row.makespan_s > 0:
        assert row.req_per_s * row.makespan_s == pytest.approx(row.ok)
    assert not math.isinf(row.req_per_s)
