"""Tests of fetchbench.export: github-action-benchmark files from frozen real results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fetchbench.cli import main
from fetchbench.errors import UsageError
from fetchbench.export import check_export, gha_entries, write_exports
from fetchbench.results import load_results
from tests.helpers import DATA


def saved(name: str) -> Path:
    (path,) = sorted((DATA / name).glob("*.json"))
    return path


def test_throughput_export_has_one_entry_per_run():
    results = load_results(saved("base"))
    entries = gha_entries(results.summary, "gha-benchmark", results.meta)
    assert [e["name"] for e in entries] == [
        "serial workers=1 cpus=2 throughput",
        "thread workers=4 cpus=2 throughput",
        "gevent-pool workers=4 cpus=2 throughput",
    ]
    thread = results.summary.loc[results.summary["strategy"] == "thread", "req_per_s"]
    assert entries[1]["unit"] == "req/s"
    assert entries[1]["value"] == pytest.approx(float(thread.median()), abs=1e-3)
    assert entries[1]["range"].startswith("± ")
    assert "median of 5 round(s)" in entries[1]["extra"] and "host vm" in entries[1]["extra"]


def test_latency_export_has_p50_and_p99_in_ms():
    results = load_results(saved("slower"))
    entries = gha_entries(results.summary, "gha-benchmark-latency", results.meta)
    assert [e["name"].split()[-1] for e in entries] == ["p50", "p99"] * 3
    assert {e["unit"] for e in entries} == {"ms"}
    assert all(e["value"] > 0 for e in entries)


def test_one_round_has_no_range():
    results = load_results(saved("base"))
    first = results.summary[results.summary["round"] == 1]
    entries = gha_entries(first, "gha-benchmark")
    assert all("range" not in e for e in entries)
    assert entries[0]["extra"].startswith("median of 1 round(s)")


def test_files_are_written_as_json_lists(tmp_path):
    results = load_results(saved("base"))
    out = tmp_path / "new" / "gha.json"
    write_exports([("gha-benchmark", str(out))], results.summary, results.meta)
    written = json.loads(out.read_text(encoding="utf-8"))
    assert [set(e) for e in written] == [{"name", "unit", "value", "range", "extra"}] * 3
    assert not list(out.parent.glob(".*.tmp"))  # the atomic write left no temp file


def test_bad_kind_or_path_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="unknown kind 'csv'"):
        check_export("csv", str(tmp_path / "x.json"))
    with pytest.raises(UsageError, match="is a directory"):
        check_export("gha-benchmark", str(tmp_path))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="is not a directory"):
        check_export("gha-benchmark", str(blocker / "x.json"))


def test_compare_and_show_export_too(capsys, tmp_path):
    out = tmp_path / "rate.json"
    status = main(["compare", str(saved("base")), str(saved("again")),
                   "--export", "gha-benchmark", str(out)])
    assert status == 0 and len(json.loads(out.read_text())) == 3
    lat = tmp_path / "lat.json"
    assert main(["show", str(saved("base")), "--export", "gha-benchmark-latency", str(lat)]) == 0
    assert len(json.loads(lat.read_text())) == 6
    capsys.readouterr()
