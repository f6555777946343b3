"""Every strategy, in its own child, against the real server: one record per URL."""

from __future__ import annotations

import pytest

from fetchbench.runner import FetchOptions, PlannedRun, Runner
from fetchbench.strategies import STRATEGIES
from tests.strategies.params import LOCAL


def run_strategy(sink, urls, name, workers=4, cpus=1, **options):
    planned = PlannedRun(STRATEGIES[name], workers, cpus, 1)
    return Runner(urls, FetchOptions(**options), sink).run_one(planned)


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


def test_thread_workers_start_together(server, sink):
    """The threads start behind a gate: the first requests of 50 workers go out
    within a fraction of one request's latency, not one after another."""
    urls = [server.url(f"/gate/{i}", delay=0.2, bytes=10) for i in range(50)]
    run_strategy(sink, urls, "thread", workers=50)
    starts = sorted(r.start for r in sink.records)
    latencies = sorted(r.latency for r in sink.records)
    assert starts[-1] - starts[0] < 0.25 * latencies[len(latencies) // 2]
