"""The worker child: descriptors return to where they started after 10,000 requests."""

from __future__ import annotations

import pytest

from fetchbench.runner import FetchOptions, PlannedRun, Runner
from fetchbench.strategies import STRATEGIES

REQUESTS = 10_000


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "name,workers",
    [("serial", 1), ("process", 4), ("thread", 8), ("gevent-spawn", REQUESTS), ("gevent-pool", 50)],
)
def test_descriptors_return_to_start_after_10000_requests(server, sink, name, workers):
    urls = [server.url(f"/fd/{i}", bytes=16) for i in range(REQUESTS)]
    meta = Runner(urls, FetchOptions(timeout=30), sink).run_one(
        PlannedRun(STRATEGIES[name], workers, 1, 1))
    assert len(sink.records) == REQUESTS
    assert all(r.error == "" and r.bytes == 16 for r in sink.records)
    assert meta.probe["fds_before"] > 0
    assert meta.probe["fds_after"] == meta.probe["fds_before"]
