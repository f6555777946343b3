"""Tests of fetchbench.report: every format renders, from one field list, and round-trips."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from fetchbench.errors import UsageError
from fetchbench.record import Record, RunMeta
from fetchbench.report import FORMATS, PIVOT_TITLE, render, table_fields
from fetchbench.stats import SUMMARY_COLUMNS, records_frame, summarize, summary_from_rows


def rec(
    strategy: str, workers: int, cpus: int, rnd: int, index: int, latency: float, error: str = ""
) -> Record:
    return Record(
        strategy,
        workers,
        cpus,
        rnd,
        index,
        "http://h/",
        200,
        2048,
        0.0,
        0.01,
        latency,
        error,
        'msg, with "quotes"' if error else "",
    )


@pytest.fixture
def summary() -> pd.DataFrame:
    records = [
        rec("thread", 4, 1, 0, 0, 0.1234),
        rec("thread", 4, 1, 0, 1, 0.2),
        rec("thread", 4, 1, 0, 2, 0.3, "timeout"),
        rec("serial", 1, 1, 0, 0, 0.5, "http_5xx"),
        rec("gevent-pool", 8, 2, 0, 0, 0.05),
    ]
    runs = [
        RunMeta("thread", 4, 1, 0, wall_s=1.0, cpu_s=0.1, peak_rss_mib=30.0),
        RunMeta("serial", 1, 1, 0, wall_s=0.6),
        RunMeta("gevent-pool", 8, 2, 0, wall_s=0.2),
        RunMeta("process", 4, 2, 0, complete=False, note="interrupted"),  # no records
    ]
    return summarize(records_frame(records), runs)


def test_table_shows_default_columns_then_the_pivot(summary):
    text = render(summary, "table")
    lines = text.splitlines()
    header = lines[0].split()
    assert header[:4] == ["strategy", "workers", "cpus", "requests"]
    assert "round" not in header  # one round per configuration
    assert "timeout" not in text  # error_counts is not a default column
    assert "req/s" in lines[0] and "p99" in lines[0] and "MiB/s" in lines[0]
    title = lines.index(PIVOT_TITLE)
    assert lines[title - 1] == ""
    assert lines[title + 1].split() == ["strategy", "1", "cpu", "2", "cpus"]
    pivot_rows = [ln.split()[0] for ln in lines[title + 3 :]]
    assert pivot_rows == ["serial", "process", "thread", "gevent-pool"]
    assert text.endswith("\n")


def test_table_numbers_are_formatted(summary):
    lines = render(summary, "table").splitlines()
    thread = lines[2].split()
    # strategy workers cpus requests ok errors MiB wall req/s MiB/s p50 p90 p99 max
    assert thread[:6] == ["thread", "4", "1", "3", "2", "1"]
    assert thread[6] == "0.01"  # MiB, 2 decimals
    assert thread[12] == "199.2"  # p99 ms, 1 decimal (123.4..200 interpolated)
    process = lines[5].split()
    assert process[:2] == ["process", "*"]  # the interrupted run is starred...
    assert process[9] == "-"  # NaN shown as "-"
    assert lines[6].startswith("* incomplete run")  # ...and the star explained


def test_round_column_appears_with_several_rounds():
    records = [rec("thread", 4, 1, r, 0, 0.1 * (r + 1)) for r in range(3)]
    runs = [RunMeta("thread", 4, 1, r) for r in range(3)]
    summary = summarize(records_frame(records), runs)
    assert [f.name for f in table_fields(summary)][:4] == ["strategy", "workers", "cpus", "round"]
    text = render(summary, "table")
    assert text.splitlines()[0].split()[3] == "round"
    pivot_line = text.splitlines()[-1].split()
    assert pivot_line == ["thread", "5.0"]  # median of 10, 5, 3.3 req/s


def test_markdown_uses_github_tables_and_headings(summary):
    text = render(summary, "markdown")
    assert text.startswith("| strategy")
    assert f"### {PIVOT_TITLE}" in text.splitlines()
    assert "|---" in text
    assert "| thread" in text


def test_csv_has_every_field_and_round_trips(summary):
    text = render(summary, "csv")
    back = pd.read_csv(io.StringIO(text))
    assert list(back.columns) == list(SUMMARY_COLUMNS)
    back["error_counts"] = back["error_counts"].fillna("")
    pd.testing.assert_frame_equal(back, summary, check_dtype=False)


def test_json_has_every_field_nan_as_null_and_round_trips(summary):
    text = render(summary, "json")
    assert "NaN" not in text
    rows = json.loads(text)
    assert [list(r) for r in rows] == [list(SUMMARY_COLUMNS)] * len(summary)
    assert rows[3]["req_per_s"] is None and rows[3]["complete"] is False
    pd.testing.assert_frame_equal(summary_from_rows(rows), summary)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_an_empty_summary(fmt):
    text = render(summarize(pd.DataFrame(), []), fmt)
    assert isinstance(text, str) and text.endswith("\n")


def test_unknown_format_is_a_usage_error(summary):
    with pytest.raises(UsageError, match="unknown format 'xml'"):
        render(summary, "xml")
