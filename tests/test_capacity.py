"""Capacity tables of a sweep: by workers, across CPUs, the knee, and a real sweep."""

from __future__ import annotations

import math

import pytest

from fetchbench.capacity import (
    Point,
    configurations,
    cpu_scaling,
    is_cpu_sweep,
    is_worker_sweep,
    knee,
    workers_pivot,
)
from fetchbench.capacity_tables import CPUS_TITLE, WORKERS_TITLE
from fetchbench.report import render
from fetchbench.runner import FetchOptions, Runner, build_plan
from fetchbench.stats import records_frame, summarize
from fetchbench.strategies import STRATEGIES
from tests.capacity_data import row, summary_of


def test_workers_pivot_has_strategy_rows_and_worker_columns_median_over_rounds():
    summary = summary_of(
        row("thread", 1, 1, 10.0),
        row("thread", 4, 1, 40.0, rnd=1),
        row("thread", 4, 1, 30.0, rnd=2),
        row("thread", 4, 1, 38.0, rnd=3),
        row("serial", 1, 1, 9.0),
        row("gevent-pool", 16, 1, 150.0),
    )
    pivot = workers_pivot(summary)
    assert list(pivot.index) == ["serial", "thread", "gevent-pool"]
    assert list(pivot.columns) == ["1", "4", "16"]
    assert pivot.loc["thread", "4"] == 38.0  # median of 40, 30, 38
    assert pivot.loc["thread", "1"] == 10.0
    assert math.isnan(pivot.loc["serial", "4"])


def test_workers_pivot_splits_rows_by_cpu_count_when_several():
    summary = summary_of(row("thread", 1, 1, 10.0), row("thread", 1, 2, 11.0))
    assert list(workers_pivot(summary).index) == ["thread, 1 cpu", "thread, 2 cpus"]


def test_cpu_scaling_efficiency_is_speedup_over_one_cpu_divided_by_cpus():
    summary = summary_of(
        row("process", 4, 1, 100.0),
        row("process", 4, 2, 180.0),
        row("process", 4, 4, 200.0),
    )
    scaling = cpu_scaling(summary)
    line = scaling.loc["process"]
    assert line["1 cpu"] == 100.0 and line["4 cpus"] == 200.0
    assert line["speed-up 2 cpus"] == pytest.approx(1.8)
    assert line["efficiency 2 cpus"] == pytest.approx(0.9)
    assert line["efficiency 4 cpus"] == pytest.approx(0.5)
    assert scaling.attrs["baseline_cpus"] == 1


def test_cpu_scaling_uses_the_fewest_cpus_measured_as_baseline():
    summary = summary_of(row("thread", 8, 2, 100.0), row("thread", 8, 4, 150.0))
    line = cpu_scaling(summary).loc["thread"]
    assert line["efficiency 4 cpus"] == pytest.approx(0.75)  # 1.5 speed-up for 2× the CPUs


def test_sweep_detection():
    single = summary_of(row("serial", 1, 1, 9.0), row("thread", 20, 1, 90.0))
    assert not is_worker_sweep(single)  # two strategies, one worker count each
    assert not is_cpu_sweep(single)
    assert is_worker_sweep(summary_of(row("thread", 1, 1, 9.0), row("thread", 4, 1, 30.0)))
    assert is_cpu_sweep(summary_of(row("thread", 4, 1, 9.0), row("thread", 4, 2, 9.0)))
    # two CPU counts, but no configuration measured at both: nothing to scale
    assert not is_cpu_sweep(summary_of(row("thread", 4, 1, 9.0), row("serial", 1, 2, 9.0)))


def test_knee_is_the_fewest_workers_reaching_ninety_percent_of_the_best():
    curve = {1: 20.0, 2: 40.0, 4: 78.0, 8: 150.0, 16: 190.0, 32: 200.0, 64: 195.0}
    point = knee(Point(w, 1, rps) for w, rps in curve.items())
    assert point == Point(16, 1, 190.0)  # 190 >= 0.9 × 200; 150 is not


def test_knee_edge_cases():
    assert knee([Point(1, 1, 50.0), Point(8, 1, 50.0)]) == Point(1, 1, 50.0)  # flat: at once
    tie = [Point(8, 2, 100.0), Point(8, 1, 95.0), Point(4, 1, 10.0)]
    assert knee(tie) == Point(8, 1, 95.0)  # fewest workers, then fewest CPUs
    assert knee([Point(1, 1, float("nan")), Point(2, 1, 5.0)]) == Point(2, 1, 5.0)
    assert knee([]) is None
    assert knee([Point(3, 1, 100.0), Point(1, 1, 60.0)], fraction=0.5) == Point(1, 1, 60.0)


def test_configurations_take_medians_and_mark_incomplete():
    summary = summary_of(
        row("thread", 4, 1, 10.0, rnd=1),
        row("thread", 4, 1, 20.0, rnd=2, complete=False, errors=3),
    )
    configs = configurations(summary)
    assert len(configs) == 1
    only = configs.iloc[0]
    assert only["req_per_s"] == 15.0 and only["rounds"] == 2
    assert only["errors"] == 3 and not only["complete"]


def test_render_adds_capacity_tables_only_for_sweeps():
    single = summary_of(row("thread", 20, 1, 90.0), row("serial", 1, 1, 9.0))
    text = render(single, "table")
    assert WORKERS_TITLE not in text and CPUS_TITLE not in text
    sweep = summary_of(
        row("thread", 1, 1, 10.0), row("thread", 4, 1, 38.0),
        row("thread", 1, 2, 10.0), row("thread", 4, 2, 40.0),
    )
    text = render(sweep, "table")
    assert WORKERS_TITLE in text and CPUS_TITLE in text
    lines = text.splitlines()
    header = lines[lines.index(WORKERS_TITLE) + 1].split()
    assert header == ["strategy", "1", "4"]
    markdown = render(sweep, "markdown")
    assert f"### {WORKERS_TITLE}" in markdown and "| thread (4)" in markdown


def test_thread_sweep_throughput_rises_with_workers(server, sink):
    urls = [server.url(f"/sweep/{i}", delay=0.05, bytes=256) for i in range(32)]
    plan = build_plan([STRATEGIES["thread"]], [1, 4, 16], [1])
    runs = Runner(urls, FetchOptions(), sink).run(plan)
    summary = summarize(records_frame(sink.records), runs)
    assert (summary["errors"] == 0).all()
    pivot = workers_pivot(summary)
    r1, r4, r16 = (pivot.loc["thread", w] for w in ("1", "4", "16"))
    # latency-bound: ideal ratios are 4× and 4×; leave room for a noisy machine
    assert r4 / r1 > 2.0
    assert r16 / r4 > 1.8
    # Little's law: one worker waiting ~50 ms per request is close to its ideal
    one = summary[summary["workers"] == 1].iloc[0]
    assert one["efficiency"] == pytest.approx(1.0, abs=0.2)
