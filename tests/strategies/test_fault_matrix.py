"""Every strategy against a list mixing every fault with healthy URLs.

For each strategy and each HTTP client: records == URLs x rounds, each fault
gets its error class, and the healthy URLs' byte counts are exact. The run
never hangs.
"""

from __future__ import annotations

import socket
from collections import Counter

import pytest

from fetchbench.fetch import CLIENTS
from fetchbench.runner import FetchOptions, Runner, build_plan
from fetchbench.strategies import STRATEGIES
from tests.strategies.params import LOCAL

ROUNDS = 2


def fault_list(server, refused_port: int) -> list[tuple[str, str, int | None]]:
    """(url, expected error class, expected bytes or None)."""
    return [
        (server.url("/ok/1", bytes=1000), "", 1000),
        (server.url("/ok/2", bytes=70_000), "", 70_000),
        (server.url("/s503", status=503, bytes=10), "http_5xx", 10),
        (server.url("/s404", status=404, bytes=10), "http_4xx", 10),
        (server.url("/reset", reset=1, bytes=50_000), "reset", None),
        (server.url("/stall", stall=5), "timeout", None),
        (server.url("/truncate", truncate=100, bytes=1000), "truncated", None),
        (server.url("/drip", drip=0.2, bytes=3000), "", 3000),
        (server.url("/redirect", redirect=3, bytes=500), "", 500),
        (server.url("/loop", redirect=1000), "too_many_redirects", None),
        (server.url("/chunked", chunked=1, bytes=40_000), "", 40_000),
        (server.url("/close", close=1, bytes=777), "", 777),
        (server.url("/ok/3", bytes=0), "", 0),
        (f"http://127.0.0.1:{refused_port}/refused", "connect", None),
        ("http://fetchbench-test.invalid/dns", "dns", None),
        (server.url("/bigger", bytes=600_000), "too_large", None),
    ]


@pytest.fixture(scope="module")
def refused_port():
    with socket.socket() as holder:  # bound but never listening: connections are refused
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("name", LOCAL)
def test_fault_matrix(server, sink, refused_port, name, client):
    if name in ("asyncio", "process-asyncio") and client != CLIENTS[0]:
        pytest.skip("the asyncio strategies always fetch with aiohttp")
    cases = fault_list(server, refused_port)
    urls = [url for url, _, _ in cases]
    plan = build_plan([STRATEGIES[name]], [4], [1], repeat=ROUNDS, url_count=len(urls))
    Runner(urls, FetchOptions(timeout=1.0, max_bytes=500_000, client=client), sink).run(plan)
    assert len(sink.records) == len(urls) * ROUNDS
    assert Counter((r.round, r.index) for r in sink.records) == Counter(
        {(k, i): 1 for k in range(1, ROUNDS + 1) for i in range(len(urls))})
    for record in sink.records:
        _, expected_error, expected_bytes = cases[record.index]
        assert record.error == expected_error, (record.url, record.message)
        if expected_bytes is not None:
            assert record.bytes == expected_bytes, record.url
    assert len(sink.runs) == ROUNDS and all(run.complete for run in sink.runs)
