"""The cost fields of the summary: MiB per worker, Little's-law ideal and efficiency."""

from __future__ import annotations

import math

import pytest

from fetchbench.record import Record, RunMeta
from fetchbench.report import table_fields
from fetchbench.stats import FIELDS_BY_NAME, records_frame, summarize, summary_rows
from tests.capacity_data import summary_of

COST = ("mib_per_worker", "ideal_req_per_s", "efficiency")


def _records(workers: int, latencies: list[float], gap: float) -> list[Record]:
    """Requests of one run, ``workers`` at a time, starting every ``gap`` seconds."""
    return [
        Record("thread", workers, 1, 1, i, "http://h/", 200, 100,
               start=(i // workers) * gap, latency=lat)
        for i, lat in enumerate(latencies)
    ]


def test_cost_fields_are_summary_fields_but_not_default_columns():
    for name in COST:
        assert name in FIELDS_BY_NAME
    summary = summary_of({"strategy": "thread", "workers": 4, "cpus": 1, "round": 1})
    assert not set(COST) & {f.name for f in table_fields(summary)}


def test_littles_law_ideal_and_efficiency():
    # 8 requests of 100 ms, 4 at a time, back to back: makespan 0.2 s → 40 req/s
    records = _records(4, [0.1] * 8, gap=0.1)
    meta = RunMeta("thread", 4, 1, 1, wall_s=0.3, cpu_s=0.08, peak_rss_mib=40.0)
    row = summarize(records_frame(records), [meta]).iloc[0]
    assert row["req_per_s"] == pytest.approx(40.0)
    assert row["ideal_req_per_s"] == pytest.approx(40.0)  # 4 workers ÷ 0.1 s
    assert row["efficiency"] == pytest.approx(1.0)
    assert row["mib_per_worker"] == pytest.approx(10.0)
    assert row["cpu_ms_per_req"] == pytest.approx(10.0)


def test_efficiency_falls_when_workers_idle():
    # 4 workers, but the second wave starts 0.2 s in for 0.1 s requests: 0.3 s, not 0.2 s
    records = _records(4, [0.1] * 8, gap=0.2)
    row = summarize(records_frame(records), [RunMeta("thread", 4, 1, 1)]).iloc[0]
    assert row["req_per_s"] == pytest.approx(8 / 0.3)
    assert row["efficiency"] == pytest.approx((8 / 0.3) / 40.0)


def test_no_memory_sample_and_no_success_give_missing_values():
    failed = [Record("thread", 2, 1, 1, 0, "http://h/", error="timeout", latency=1.0)]
    row = summarize(records_frame(failed), [RunMeta("thread", 2, 1, 1)]).iloc[0]
    assert math.isnan(row["mib_per_worker"])  # peak_rss_mib 0: never sampled
    assert math.isnan(row["ideal_req_per_s"]) and math.isnan(row["efficiency"])
    assert summary_rows(summarize(records_frame(failed), [RunMeta("thread", 2, 1, 1)]))[0][
        "efficiency"] is None


def test_summaries_saved_without_cost_fields_get_them_on_load():
    old = {"strategy": "gevent-pool", "workers": 10, "cpus": 1, "round": 1,
           "req_per_s": 50.0, "mean_ms": 100.0, "peak_rss_mib": 35.0}
    row = summary_of(old).iloc[0]
    assert row["mib_per_worker"] == pytest.approx(3.5)
    assert row["ideal_req_per_s"] == pytest.approx(100.0)
    assert row["efficiency"] == pytest.approx(0.5)
    kept = summary_of({**old, "efficiency": 0.25}).iloc[0]
    assert kept["efficiency"] == 0.25  # a stored value wins over the derived one


def test_mib_per_worker_uses_pss_where_measured_else_rss():
    records = _records(4, [0.1] * 8, gap=0.1)
    metas = [RunMeta("process", 4, 1, 1, peak_rss_mib=120.0, peak_pss_mib=40.0),
             RunMeta("thread", 4, 1, 1, peak_rss_mib=32.0)]
    records += [Record("process", 4, 1, 1, r.index, r.url, 200, 100, r.start, latency=r.latency)
                for r in records]
    rows = summarize(records_frame(records), metas).set_index("strategy")
    assert rows.loc["process", "peak_rss_mib"] == 120.0
    assert rows.loc["process", "peak_pss_mib"] == 40.0
    assert rows.loc["process", "mib_per_worker"] == pytest.approx(10.0)  # PSS
    assert math.isnan(rows.loc["thread", "peak_pss_mib"])
    assert rows.loc["thread", "mib_per_worker"] == pytest.approx(8.0)  # RSS: no PSS


def test_memory_mib_of_summaries_with_and_without_the_pss_column():
    import pandas as pd

    from fetchbench.stats import memory_mib

    old = pd.DataFrame({"peak_rss_mib": [30.0, 0.0]})
    assert memory_mib(old).tolist()[0] == 30.0 and math.isnan(memory_mib(old).tolist()[1])
    new = pd.DataFrame({"peak_rss_mib": [300.0, 30.0, 0.0], "peak_pss_mib": [90.0, None, None]})
    got = memory_mib(new).tolist()
    assert got[:2] == [90.0, 30.0] and math.isnan(got[2])
