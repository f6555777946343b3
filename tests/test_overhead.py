"""The tool's own costs: the rows fast path, the emitter's batching, the overhead probe."""

from __future__ import annotations

import json
import operator
import os
import threading
from dataclasses import dataclass, field

import pytest

from fetchbench import options
from fetchbench.fetch import CLIENTS
from fetchbench.record import RECORD_FIELDS, Record, RunMeta
from fetchbench.results import ResultsWriter, read_records
from fetchbench.worker import Emitter, overhead
from tests.helpers import read_messages, run_strategy


@dataclass
class RowSink:
    """A sink with the runner's fast path: rows, never Record objects."""

    batches: list[list] = field(default_factory=list)
    runs: list[RunMeta] = field(default_factory=list)

    def add_rows(self, rows: list) -> None:
        self.batches.append(rows)

    def add_records(self, records: list) -> None:  # pragma: no cover - must not be used
        raise AssertionError("add_records called although add_rows exists")

    def add_run(self, meta: RunMeta) -> None:
        self.runs.append(meta)

    def save(self, complete: bool, interrupted_at: str | None = None) -> None:
        pass


def test_options_list_the_clients_fetch_knows():
    assert options.CLIENTS == CLIENTS


@pytest.mark.parametrize("client", CLIENTS)
def test_sink_with_add_rows_gets_rows_and_the_probe_has_overhead(server, client):
    urls = [server.url(f"/o/{i}", bytes=32) for i in range(40)]
    sink = RowSink()
    meta = run_strategy(sink, urls, "serial", workers=1, client=client)
    rows = [row for batch in sink.batches for row in batch]
    assert sorted(row[RECORD_FIELDS.index("index")] for row in rows) == list(range(40))
    assert all(Record(*row).ok and Record(*row).bytes == 32 for row in rows)
    probe = meta.probe
    assert probe["client"] == client
    assert probe["cpu_run_s"] > 0
    cost = probe["overhead"]
    assert cost["gaps"] == 39  # one fetcher, 40 requests: 39 gaps between them
    assert 0 <= cost["gap_p50_ms"] <= cost["gap_p90_ms"]
    assert cost["emit_us_mean"] > 0 and cost["parent_us_per_record"] > 0


def test_missing_urls_reach_a_rows_sink_as_rows(server):
    urls = [server.url(f"/m/{i}", delay=0.2, bytes=10) for i in range(10)]
    sink = RowSink()
    run_strategy(sink, urls, "serial", workers=1, max_time=0.1)
    rows = sorted((row for batch in sink.batches for row in batch),
                  key=operator.itemgetter(RECORD_FIELDS.index("index")))
    errors = [row[RECORD_FIELDS.index("error")] for row in rows]
    assert len(rows) == 10
    assert set(errors) <= {"", "not_run"}
    # The first fetch alone (>= 0.2 s of server delay) outlasts --max-time 0.1,
    # so whatever became of the first URL, all the others were cut.
    assert errors[1:] == ["not_run"] * 9, errors
    assert "--max-time reached" in sink.runs[0].note


def test_add_rows_writes_what_add_records_writes(tmp_path):
    records = [Record("thread", 4, 1, 1, i, f"http://h/{i}", 200, 10 * i, 0.1 * i, 0.01, 0.02,
                      "http_5xx" if i == 2 else "", "HTTP 500…" if i == 2 else "")
               for i in range(5)]
    by_records = ResultsWriter(tmp_path / "a", "x", machine={})
    by_records.add_records(records)
    by_rows = ResultsWriter(tmp_path / "b", "x", machine={})
    by_rows.add_rows(json.loads(json.dumps([r.as_row() for r in records])))  # as from a child
    for writer in (by_records, by_rows):
        writer.add_run(RunMeta("thread", 4, 1, 1))
        writer.close(complete=True)
    assert by_rows.csv_path.read_bytes() == by_records.csv_path.read_bytes()
    pd_rows = read_records(by_rows.csv_path)
    assert list(pd_rows["bytes"]) == [0, 10, 20, 30, 40]


def test_emitter_from_many_threads_sends_every_record_once():
    read_fd, write_fd = os.pipe()
    count = 5000
    emit = Emitter(write_fd, count, operator.attrgetter(*RECORD_FIELDS))
    messages: list[dict] = []
    reader = threading.Thread(target=lambda: messages.extend(read_messages(os.fdopen(read_fd, "rb"))))
    reader.start()

    def work(start: int) -> None:
        for i in range(start, count, 8):
            emit(Record("thread", 8, 1, 1, i, f"http://h/{i}"))
            emit(Record("thread", 8, 1, 1, i, "duplicate: dropped"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    emit.flush()
    os.close(write_fd)
    reader.join()
    rows = [row for message in messages for row in message["records"]]
    assert sorted(row[4] for row in rows) == list(range(count))
    assert all(not row[5].startswith("duplicate") for row in rows)
    assert emit.calls == count and emit.busy > 0


def test_overhead_figures_of_no_gaps_and_of_some():
    from array import array

    assert overhead(array("d")) == {"gap_p50_ms": None, "gap_p90_ms": None, "gaps": 0}
    got = overhead(array("d", [0.001 * n for n in range(1, 11)]))
    assert got == {"gap_p50_ms": 6.0, "gap_p90_ms": 10.0, "gaps": 10}


def test_client_option_is_validated_and_kept_in_the_options():
    from fetchbench.cli import parse_run_options
    from fetchbench.errors import UsageError

    assert parse_run_options([]).client == "requests"
    chosen = parse_run_options(["--client", "urllib3"])
    assert chosen.client == "urllib3" and chosen.as_dict()["client"] == "urllib3"
    with pytest.raises(UsageError, match="--client"):
        parse_run_options(["--client", "curl"])


def test_gevent_client_only_with_gevent_strategies():
    from fetchbench.cli import parse_run_options
    from fetchbench.errors import UsageError

    with pytest.raises(UsageError, match="only for the gevent strategies, not thread"):
        parse_run_options(["--client", "geventhttpclient", "-s", "gevent-pool,thread"])
    pytest.importorskip("geventhttpclient")
    chosen = parse_run_options(["--client", "geventhttpclient", "-s", "gevent-pool"])
    assert chosen.client == "geventhttpclient"


def test_emitter_without_locks_for_gevent_children_batches_the_same():
    read_fd, write_fd = os.pipe()
    emit = Emitter(write_fd, 600, operator.attrgetter(*RECORD_FIELDS), threads=False)
    for i in range(600):
        emit(Record("gevent-pool", 4, 1, 1, i, f"http://h/{i}"))
    emit.flush()
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as stream:
        batches = [message["records"] for message in read_messages(stream)]
    assert len(batches) >= 3 and max(len(b) for b in batches) <= 256  # FLUSH_RECORDS at most
    assert sorted(row[4] for b in batches for row in b) == list(range(600))
