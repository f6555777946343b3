"""Tests of the per-configuration view of repeated runs: stats.round_summary and its table."""

from __future__ import annotations

import pandas as pd
import pytest

from fetchbench.record import Record, RunMeta
from fetchbench.report import PIVOT_TITLE, ROUNDS_TITLE, render
from fetchbench.results import load_results
from fetchbench.stats import ROUND_COLUMNS, records_frame, round_summary, summarize
from tests.helpers import DATA


def three_rounds() -> pd.DataFrame:
    """thread: 1 request per round taking 0.1, 0.2, 0.4 s (10, 5, 2.5 req/s); serial: 1 round."""
    records = [
        Record("thread", 4, 1, r, 0, "http://h/", 200, 1024, 0.0, 0.01, lat)
        for r, lat in ((1, 0.1), (2, 0.2), (3, 0.4))
    ]
    records.append(Record("serial", 1, 1, 1, 0, "http://h/", 500, 0, 0.0, 0.01, 0.3, "http_5xx"))
    runs = [RunMeta("thread", 4, 1, r) for r in (1, 2, 3)] + [RunMeta("serial", 1, 1, 1)]
    return summarize(records_frame(records), runs)


def test_medians_and_spread_per_configuration():
    rounds = round_summary(three_rounds())
    assert list(rounds.columns) == list(ROUND_COLUMNS)
    thread, serial = rounds.to_dict("records")
    assert (thread["strategy"], thread["rounds"], thread["requests"]) == ("thread", 3, 3)
    assert thread["req_per_s"] == pytest.approx(5.0)
    assert (thread["req_per_s_min"], thread["req_per_s_max"]) == pytest.approx((2.5, 10.0))
    assert thread["req_per_s_iqr"] == pytest.approx(7.5 - 3.75)
    assert thread["p50_ms"] == pytest.approx(200.0)
    assert thread["max_ms"] == pytest.approx(400.0)
    assert (serial["rounds"], serial["errors"]) == (1, 1)
    assert pd.isna(serial["p50_ms"])


def test_medians_of_a_real_run_lie_within_its_rounds():
    summary = load_results(next((DATA / "base").glob("*.json"))).summary
    rounds = round_summary(summary)
    assert list(rounds["rounds"]) == [5, 5, 5]
    assert (rounds["req_per_s_min"] <= rounds["req_per_s"]).all()
    assert (rounds["req_per_s"] <= rounds["req_per_s_max"]).all()


def test_empty_summary_gives_no_rows():
    rounds = round_summary(summarize(pd.DataFrame(), []))
    assert rounds.empty and list(rounds.columns) == list(ROUND_COLUMNS)


@pytest.mark.parametrize("fmt,title", [("table", ROUNDS_TITLE), ("markdown", f"### {ROUNDS_TITLE}")])
def test_render_adds_the_rounds_table_only_with_several_rounds(fmt, title):
    lines = render(three_rounds(), fmt).splitlines()
    at = lines.index(title)
    assert at < lines.index(PIVOT_TITLE if fmt == "table" else f"### {PIVOT_TITLE}")
    header = next(ln for ln in lines[at + 1 :] if ln.strip())
    assert "rounds" in header and "req/s min" in header and "req/s max" in header
    one_round = three_rounds().iloc[[0, 3]]
    assert title not in render(one_round, fmt).splitlines()
