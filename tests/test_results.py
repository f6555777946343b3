"""Tests of fetchbench.results: atomic saves, nothing lost, clear load errors."""

from __future__ import annotations

import json
import os
import re
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from fetchbench import results as results_mod
from fetchbench.errors import InputError, UsageError
from fetchbench.record import RECORD_FIELDS, Record, RunMeta
from fetchbench.results import (
    SCHEMA_VERSION,
    NullWriter,
    ResultsWriter,
    atomic_write_text,
    load_results,
    machine_info,
    read_record_bytes,
    read_records,
)
from fetchbench.stats import STATS_COLUMNS, SUMMARY_COLUMNS, records_frame, summarize
from tests.helpers import DATA

MACHINE = {"host": "test-host", "cpu_count": 2}


def records_of(strategy: str, workers: int, cpus: int, n: int = 3) -> list[Record]:
    out = [
        Record(
            strategy,
            workers,
            cpus,
            0,
            i,
            f"http://h/{i}",
            200,
            100 * (i + 1),
            0.01 * i,
            0.001,
            0.1 + 0.01 * i,
        )
        for i in range(n)
    ]
    out.append(
        Record(
            strategy,
            workers,
            cpus,
            0,
            n,
            "NA",
            0,
            0,
            0.0,
            0.0,
            2.0,
            "timeout",
            'read timed out, "twice"\nsecond line',
        )
    )
    return out


def writer(tmp_path: Path, **kw) -> ResultsWriter:
    kw.setdefault("machine", MACHINE)
    return ResultsWriter(tmp_path / "res", **kw)


# --- atomic_write_text -------------------------------------------------------


def test_atomic_write_replaces_the_file(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_text(target, "one\n")
    atomic_write_text(target, "two\n")
    assert target.read_text() == "two\n"
    assert os.listdir(tmp_path) == ["x.json"]


def test_atomic_write_crash_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    atomic_write_text(target, "old\n")

    def boom(*_a, **_k):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["x.json"]


# --- machine_info ------------------------------------------------------------


def test_machine_info_outside_git_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    info = machine_info()
    assert info["git_commit"] is None
    assert info["cpu_count"] == os.cpu_count()
    assert 1 <= info["cpus_available"] <= os.cpu_count()
    assert set(info["versions"]) == {
        "fetchbench",
        "gevent",
        "requests",
        "urllib3",
        "pandas",
        "tabulate",
    }
    assert info["versions"]["pandas"] == pd.__version__
    json.dumps(info)  # serialisable


def test_machine_info_when_git_is_missing(monkeypatch):
    def no_git(*_a, **_k):
        raise FileNotFoundError("git")

    monkeypatch.setattr(results_mod.subprocess, "run", no_git)
    assert machine_info()["git_commit"] is None


# --- ResultsWriter -----------------------------------------------------------


def test_construction_creates_directory_and_partial_csv(tmp_path):
    w = writer(tmp_path)
    assert re.fullmatch(r"fetchbench-\d{8}-\d{6}", w.stem)
    assert w.partial_path.read_text() == ",".join(RECORD_FIELDS) + "\n"
    assert w.json_path == tmp_path / "res" / f"{w.stem}.json"
    assert w.csv_path == tmp_path / "res" / f"{w.stem}.csv"
    assert not w.json_path.exists() and not w.csv_path.exists()


def test_directory_under_a_regular_file_fails_at_construction(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError) as err:
        ResultsWriter(blocker / "sub", machine=MACHINE)
    assert str(err.value) == f"cannot create results directory {blocker / 'sub'}: Not a directory"
    with pytest.raises(UsageError) as err:
        ResultsWriter(blocker, machine=MACHINE)
    assert str(err.value) == f"results directory {blocker} is not a directory"


def test_default_stem_gets_a_suffix_when_taken(tmp_path, monkeypatch):
    fixed = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    monkeypatch.setattr(results_mod, "_utc_now", lambda: fixed)
    first = writer(tmp_path)
    second = writer(tmp_path)
    assert first.stem == "fetchbench-20240506-070809"
    assert second.stem == "fetchbench-20240506-070809-2"
    assert first.created == "2024-05-06T07:08:09Z"


def test_explicit_stem_never_overwrites(tmp_path):
    w = writer(tmp_path, stem="base")
    w.close(complete=True)
    with pytest.raises(UsageError) as err:
        writer(tmp_path, stem="base")
    assert str(err.value) == (
        f"results file {tmp_path / 'res' / 'base.json'} already exists; "
        "choose another name or remove it"
    )
    with pytest.raises(UsageError, match="not a path"):
        writer(tmp_path, stem="../evil")


def test_save_after_each_run_keeps_everything_so_far(tmp_path):
    w = writer(tmp_path, stem="s", options={"out": Path("/x"), "rounds": 1}, targets={"n": 4})
    w.add_records(iter(records_of("serial", 1, 1)))  # a generator is fine
    w.add_run(RunMeta("serial", 1, 1, 0, wall_s=1.0))
    w.save(complete=False)
    loaded = load_results(w.json_path)
    assert [r.strategy for r in loaded.runs] == ["serial"]
    assert not loaded.complete
    assert loaded.records_path == w.partial_path  # not renamed yet
    assert len(loaded.records()) == 4

    w.add_records(records_of("thread", 4, 1))
    w.add_run(RunMeta("thread", 4, 1, 0, wall_s=0.5))
    w.save(complete=False)
    loaded = load_results(w.json_path)
    assert [r.strategy for r in loaded.runs] == ["serial", "thread"]
    assert list(loaded.summary["requests"]) == [4, 4]
    assert loaded.meta["options"] == {"out": "/x", "rounds": 1}
    assert loaded.meta["targets"] == {"n": 4}


def test_failed_save_leaves_previous_json_valid(tmp_path, monkeypatch):
    w = writer(tmp_path, stem="s")
    w.add_records(records_of("serial", 1, 1))
    w.add_run(RunMeta("serial", 1, 1, 0))
    w.save(complete=False)
    before = w.json_path.read_text()

    w.add_records(records_of("thread", 4, 1))
    w.add_run(RunMeta("thread", 4, 1, 0))

    def crash(*_a, **_k):
        raise OSError("crash between writes")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        w.save(complete=False)
    assert w.json_path.read_text() == before
    assert [r.strategy for r in load_results(w.json_path).runs] == ["serial"]
    assert sorted(p.name for p in w.directory.iterdir()) == ["s.csv.partial", "s.json"]


def test_close_renames_partial_and_records_round_trip(tmp_path):
    w = writer(tmp_path, stem="s")
    recs = records_of("serial", 1, 1) + records_of("gevent-pool", 8, 2)
    w.add_records(recs[:4])
    w.add_run(RunMeta("serial", 1, 1, 0))
    w.add_records(recs[4:])
    w.add_run(RunMeta("gevent-pool", 8, 2, 0))
    path = w.close(complete=True)
    assert path == w.json_path
    assert w.csv_path.exists() and not w.partial_path.exists()

    doc = json.loads(w.json_path.read_text())
    assert doc["schema"] == "fetchbench-results"
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["complete"] is True and doc["interrupted_at"] is None
    assert doc["records_file"] == "s.csv"
    assert doc["machine"] == MACHINE
    assert list(doc["runs"][0]) == [*(f.name for f in fields(RunMeta)), "summary"]
    assert list(doc["runs"][0]["summary"]) == list(SUMMARY_COLUMNS)

    for p in (w.json_path, w.csv_path):  # load by JSON or by CSV path
        loaded = load_results(str(p))
        assert loaded.path == w.json_path and loaded.warnings == []
        pd.testing.assert_frame_equal(loaded.records(), records_frame(recs))
        pd.testing.assert_frame_equal(loaded.summary, w.summary())
    assert loaded.records().loc[3, "url"] == "NA"  # not turned into NaN


def test_interrupted_close_is_marked(tmp_path):
    w = writer(tmp_path, stem="s")
    w.add_records(records_of("thread", 4, 1))
    w.add_run(RunMeta("thread", 4, 1, 0, complete=False, note="interrupted"))
    w.close(complete=False, interrupted_at="thread workers=4 cpus=1 round=0")
    loaded = load_results(w.json_path)
    assert not loaded.complete
    assert loaded.meta["interrupted_at"] == "thread workers=4 cpus=1 round=0"
    assert loaded.runs == [RunMeta("thread", 4, 1, 0, complete=False, note="interrupted")]


def test_close_with_no_runs_still_writes_a_valid_file(tmp_path):
    w = writer(tmp_path, stem="s")
    w.close(complete=False, interrupted_at="before the first run")
    loaded = load_results(w.json_path)
    assert loaded.runs == [] and loaded.summary.empty
    assert list(loaded.summary.columns) == list(SUMMARY_COLUMNS)


def test_null_writer_summarises_without_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recs = records_of("thread", 4, 1)
    null = NullWriter(options={}, targets={})
    null.add_records(recs)
    null.add_run(RunMeta("thread", 4, 1, 0))
    assert null.save(complete=True) is None and null.close(complete=True) is None
    assert os.listdir(tmp_path) == []

    w = writer(tmp_path, stem="s")
    w.add_records(recs)
    w.add_run(RunMeta("thread", 4, 1, 0))
    pd.testing.assert_frame_equal(null.summary(), w.summary())


# --- incremental summary -----------------------------------------------------


def run_records(
    strategy: str, workers: int, cpus: int, rnd: int, n: int, errors: int = 0
) -> list[Record]:
    """``n`` records of one run, the last ``errors`` of them failed (one of them not run)."""
    out = []
    for i in range(n):
        failed = i >= n - errors
        error = ("not_run" if i == n - 1 else "http_5xx" if i % 2 else "timeout") if failed else ""
        out.append(
            Record(strategy, workers, cpus, rnd, i, f"http://h/{i}", 0 if failed else 200,
                   0 if failed else 1000 + 37 * i, 0.003 * i, 0.0007 * (i % 5),
                   0.01 + 0.0013 * ((i * 7) % 11), error, "x, \"y\"\nz" if failed else "")
        )
    return out


def from_scratch(w: ResultsWriter) -> pd.DataFrame:
    return summarize(read_records(w.records_path, STATS_COLUMNS), w.runs)


def assert_same_as_from_scratch(w: ResultsWriter) -> None:
    pd.testing.assert_frame_equal(w.summary(), from_scratch(w), check_exact=True)


STEPS: list[tuple[RunMeta, list[Record]]] = [
    (RunMeta("serial", 1, 1, 1, wall_s=1.5, cpu_s=0.2, peak_rss_mib=30.0), run_records(
        "serial", 1, 1, 1, 7)),
    (RunMeta("thread", 4, 1, 1, wall_s=0.4, cpu_s=0.3), run_records("thread", 4, 1, 1, 9, 3)),
    (RunMeta("process", 2, 1, 1, complete=False, note="interrupted before start"), []),
    (RunMeta("gevent-pool", 8, 2, 1, wall_s=2.0), run_records("gevent-pool", 8, 2, 1, 4, 4)),
    (RunMeta("serial", 1, 1, 2, wall_s=1.4, cpu_s=0.1), run_records("serial", 1, 1, 2, 6, 1)),
    (RunMeta("thread", 4, 1, 2, wall_s=0.0), run_records("thread", 4, 1, 2, 1)),
]


def test_incremental_summary_equals_summary_from_scratch_after_every_step(tmp_path):
    w = writer(tmp_path, stem="s")
    assert_same_as_from_scratch(w)  # no runs, no records
    for meta, records in STEPS:  # as the runner does: a run's records, its add_run, a save
        w.add_records(records)
        w.add_run(meta)
        assert_same_as_from_scratch(w)
        w.save(complete=False)
    w.close(complete=True)
    assert_same_as_from_scratch(w)
    pd.testing.assert_frame_equal(load_results(w.json_path).summary, w.summary())


def test_incremental_summary_when_a_run_spans_reads(tmp_path):
    w = writer(tmp_path, stem="s")
    for meta, records in STEPS:  # a summary in the middle of each run's records
        w.add_records(records[:2])
        assert_same_as_from_scratch(w)
        w.add_rows(r.as_row() for r in records[2:])
        assert_same_as_from_scratch(w)
        w.add_run(meta)
        assert_same_as_from_scratch(w)
    # a run key used twice, and records that come after their run's add_run
    meta, records = STEPS[1]
    w.add_run(meta)
    w.add_records(records)
    assert_same_as_from_scratch(w)
    w.add_records(run_records("dask", 3, 2, 1, 5, 2))
    w.add_run(RunMeta("dask", 3, 2, 1))
    assert_same_as_from_scratch(w)
    w.close(complete=True)
    assert_same_as_from_scratch(w)


def test_each_record_is_read_once_over_all_saves(tmp_path, monkeypatch):
    """The old summary re-read the whole CSV on every save (7, 16, 16, 20, 26, 27 rows)."""
    read_csv = pd.read_csv
    rows_read: list[int] = []

    def counting_read_csv(*args, **kwargs):
        frame = read_csv(*args, **kwargs)
        rows_read.append(len(frame))
        return frame

    monkeypatch.setattr(pd, "read_csv", counting_read_csv)
    w = writer(tmp_path, stem="s")
    for meta, records in STEPS:
        w.add_records(records)
        w.add_run(meta)
        w.save(complete=False)
    w.close(complete=True)
    monkeypatch.undo()
    assert rows_read == [len(records) for _, records in STEPS if records]
    assert_same_as_from_scratch(w)


def test_read_record_bytes_reads_only_that_range(tmp_path):
    w = writer(tmp_path, stem="s")
    first, second = run_records("serial", 1, 1, 1, 3, 1), run_records("thread", 2, 1, 1, 4, 2)
    w.add_records(first)
    middle = w.partial_path.stat().st_size
    w.add_records(second)
    end = w.partial_path.stat().st_size
    pd.testing.assert_frame_equal(
        read_record_bytes(w.partial_path, middle, end), records_frame(second)
    )
    w.close(complete=True)
    with pytest.raises(InputError, match="no such records file"):
        read_record_bytes(tmp_path / "nope.csv", 0, 10)


# --- load_results errors -----------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "r.json") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(path: Path) -> str:
    with pytest.raises(InputError) as err:
        load_results(path)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_load_missing_file(tmp_path):
    assert load_error(tmp_path / "nope.json") == f"{tmp_path / 'nope.json'}: no such results file"


def test_load_empty_file(tmp_path):
    path = write(tmp_path, "  \n")
    assert load_error(path) == f"{path}: empty file, not a fetchbench results file"


def test_load_truncated_file(tmp_path):
    w = writer(tmp_path, stem="s")
    w.close(complete=True)
    path = write(tmp_path, w.json_path.read_text()[:40])
    assert re.fullmatch(
        re.escape(f"{path}: invalid or truncated JSON (line ") + r"\d+, column \d+: .+\)",
        load_error(path),
    )


@pytest.mark.parametrize("text", ['{"a": 1}', "[1, 2]", '"x"', '{"schema": "other"}'])
def test_load_foreign_json(tmp_path, text):
    path = write(tmp_path, text)
    assert load_error(path) == f"{path}: not a fetchbench results file"


def test_load_newer_schema(tmp_path):
    path = write(tmp_path, json.dumps({"schema": "fetchbench-results", "schema_version": 2}))
    assert load_error(path) == f"{path}: written by a newer fetchbench (schema 2; this reads 1)"


def test_load_malformed_runs(tmp_path):
    doc = {"schema": "fetchbench-results", "schema_version": 1, "runs": [{"strategy": "x"}]}
    path = write(tmp_path, json.dumps(doc))
    assert load_error(path) == (
        f"{path}: malformed results file (run 1 lacks strategy/workers/cpus/round)"
    )


def test_load_without_records_csv_keeps_the_summary(tmp_path):
    w = writer(tmp_path, stem="s")
    w.add_records(records_of("thread", 4, 1))
    w.add_run(RunMeta("thread", 4, 1, 0))
    w.close(complete=True)
    w.csv_path.unlink()
    loaded = load_results(w.json_path)
    assert list(loaded.summary["requests"]) == [4]
    assert loaded.warnings == [
        f"{w.csv_path}: records file not found; only the stored summary is available"
    ]
    with pytest.raises(InputError, match="records file not found"):
        loaded.records()


def test_read_records_rejects_a_foreign_csv(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n", "x.csv")
    with pytest.raises(InputError, match=re.escape(f"{path}: not a valid records CSV")):
        read_records(path)


# --- memory: peak PSS, and files written before it existed ----------------------------


def test_peak_pss_is_saved_and_loaded_with_the_run_and_its_summary(tmp_path):
    w = writer(tmp_path, stem="s")
    w.add_records(records_of("process", 4, 1))
    w.add_run(RunMeta("process", 4, 1, 1, peak_rss_mib=120.0, peak_pss_mib=40.0))
    w.add_records(records_of("thread", 4, 1))
    w.add_run(RunMeta("thread", 4, 1, 1, peak_rss_mib=30.0))  # PSS not measured
    w.close(complete=True)
    doc = json.loads(w.json_path.read_text())
    assert [r["peak_pss_mib"] for r in doc["runs"]] == [40.0, None]
    assert [r["summary"]["peak_pss_mib"] for r in doc["runs"]] == [40.0, None]
    assert [r["summary"]["mib_per_worker"] for r in doc["runs"]] == [10.0, 7.5]  # PSS, else RSS
    loaded = load_results(w.json_path)
    assert [m.peak_pss_mib for m in loaded.runs] == [40.0, None]
    pd.testing.assert_frame_equal(loaded.summary, w.summary())


@pytest.mark.parametrize("name", ["base/fetchbench-20261127-080104.json", "capacity/sweep.json"])
def test_results_saved_before_peak_pss_load_with_it_missing(name):
    doc = json.loads((DATA / name).read_text())
    assert "peak_pss_mib" not in doc["runs"][0] and "peak_pss_mib" not in doc["runs"][0]["summary"]
    loaded = load_results(DATA / name)
    assert all(m.peak_pss_mib is None for m in loaded.runs)
    assert loaded.summary["peak_pss_mib"].isna().all()
    rss_based = [r["summary"].get("mib_per_worker") or r["peak_rss_mib"] / r["workers"]
                 for r in doc["runs"]]
    assert loaded.summary["mib_per_worker"].tolist() == pytest.approx(rss_based)
