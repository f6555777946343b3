"""Every strategy, in its own child, against the real server: one record per URL."""

from __future__ import annotations

import time

import pytest

from tests.helpers import run_strategy
from tests.strategies.params import LOCAL


@pytest.mark.parametrize("name", LOCAL)
def test_one_record_per_url_with_exact_bytes(server, sink, name):
    sizes = [0, 1, 1000, 4096, 70_000, 300_000, 17, 12_345] * 3
    urls = [server.url(f"/item/{i}", bytes=size) for i, size in enumerate(sizes)]
    meta = run_strategy(sink, urls, name)
    assert meta.complete, meta.note
    assert sorted(r.index for r in sink.records) == list(range(len(urls)))
    for record in sink.records:
        assert (record.error, record.status) == ("", 200), record.message
        assert record.bytes == sizes[record.index]
        assert record.url == urls[record.index]
        assert record.strategy == name


@pytest.mark.parametrize("name", LOCAL)
def test_errors_are_records_not_gaps(server, sink, name):
    urls = [
        server.url(status=500),
        server.url(bytes=10),
        "http://no-such-host.invalid/",
        server.url(status=404),
    ]
    run_strategy(sink, urls, name, timeout=2)
    by_index = {r.index: r.error for r in sink.records}
    assert by_index == {0: "http_5xx", 1: "", 2: "dns", 3: "http_4xx"}


def test_gevent_pool_keeps_one_connection_per_worker(server, sink):
    before = server.stats()["connections"]
    urls = [server.url(f"/k/{i}", bytes=100) for i in range(60)]
    run_strategy(sink, urls, "gevent-pool", workers=3)
    assert server.stats()["connections"] - before == 3



def _timed_fetchers(built: list[float]):
    """A make_fetcher noting when each fetcher was built (records' start = perf_counter)."""
    from fetchbench.fetch import FetchConfig, Fetcher, RunLabel

    def make_fetcher(*, prepare: bool = False) -> Fetcher:
        fetcher = Fetcher(FetchConfig(), RunLabel("thread", 20, 1, 1, 0.0))
        built.append(time.perf_counter())
        return fetcher

    return make_fetcher


def test_thread_workers_start_together(server):
    """No request goes out before every thread has built its fetcher: started one
    by one, the first threads fetched while the last were still being started."""
    from fetchbench.strategies import thread

    built: list[float] = []
    records: list = []
    urls = [server.url(f"/gate/{i}", delay=0.05, bytes=10) for i in range(40)]
    thread.run(urls, 20, _timed_fetchers(built), records.append)
    assert len(built) == 20 and sorted(r.index for r in records) == list(range(40))
    assert min(r.start for r in records) >= max(built)


def test_thread_start_failure_fetches_nothing(server, monkeypatch):
    """A thread that cannot start fails the run before any URL is fetched; the
    threads already started leave without fetching (no traffic after the error)."""
    import threading

    from fetchbench.strategies import thread

    real_start, calls = threading.Thread.start, []

    def start(self):
        calls.append(self)
        if len(calls) == 3:
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    built: list[float] = []
    records: list = []
    before = server.stats()["requests"]
    with pytest.raises(RuntimeError, match="can't start"):
        thread.run([server.url(f"/no/{i}") for i in range(10)], 5, _timed_fetchers(built),
                   records.append)
    assert len(built) == 2 and records == []
    assert server.stats()["requests"] == before
