"""asyncio (aiohttp): connections bounded by N, the loop recorded, aiohttp's errors classed."""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("aiohttp")

import aiohttp  # noqa: E402

from fetchbench.aiofetch import classify  # noqa: E402
from fetchbench.fetch import TooLarge  # noqa: E402
from tests.helpers import run_strategy  # noqa: E402


def test_one_session_keeps_one_connection_per_worker(server, sink):
    before = server.stats()["connections"]
    urls = [server.url(f"/k/{i}", bytes=100) for i in range(60)]
    run_strategy(sink, urls, "asyncio", workers=3)
    assert server.stats()["connections"] - before == 3
    assert len(sink.records) == 60 and all(r.ok for r in sink.records)


def test_without_keepalive_every_request_has_its_own_connection(server, sink):
    before = server.stats()["connections"]
    urls = [server.url(f"/c/{i}", bytes=100) for i in range(12)]
    run_strategy(sink, urls, "asyncio", workers=3, keepalive=False)
    assert server.stats()["connections"] - before == 12


def test_default_loop_is_recorded(server, sink):
    meta = run_strategy(sink, [server.url(bytes=10)] * 3, "asyncio")
    assert (meta.probe["loop"], meta.probe["client"]) == ("asyncio", "aiohttp")
    assert meta.probe["gevent_patched"] is False


def test_process_asyncio_records_the_client_its_children_used(server, sink):
    """--client does not apply to the asyncio strategies: the probe names aiohttp."""
    meta = run_strategy(sink, [server.url(bytes=10)] * 4, "process-asyncio")
    assert meta.probe["client"] == "aiohttp"


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="uvloop not installed")
@pytest.mark.parametrize("name", ["asyncio", "process-asyncio"])
def test_uvloop_when_asked_is_recorded(server, sink, name):
    meta = run_strategy(sink, [server.url(bytes=10)] * 3, name, loop="uvloop")
    loops = ([meta.probe["loop_class"]] if name == "asyncio"
             else [c["loop"] for c in meta.probe["children"]])
    assert loops and all(loop in ("uvloop.Loop", "uvloop") for loop in loops)
    assert all(r.ok and r.bytes == 10 for r in sink.records)


def test_max_time_records_the_rest_as_not_run(server, sink):
    urls = [server.url(f"/m/{i}", delay=0.2, bytes=10) for i in range(20)]
    meta = run_strategy(sink, urls, "asyncio", workers=1, max_time=0.5)
    errors = [r.error for r in sorted(sink.records, key=lambda r: r.index)]
    assert errors[0] == "" and errors[-1] == "not_run" and set(errors) == {"", "not_run"}
    assert meta.complete


RESET_TEXT = ("Response payload is not completed: <ContentLengthError: 400, message='Not enough "
              "data'>. ConnectionResetError(104, 'Connection reset by peer')")


@pytest.mark.parametrize("exc,expected", [
    (TooLarge("cap"), "too_large"),
    (aiohttp.ClientPayloadError(RESET_TEXT), "reset"),
    (aiohttp.ClientPayloadError("Response payload is not completed: <ContentLengthError>"),
     "truncated"),
    (aiohttp.ServerDisconnectedError(), "reset"),
    (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), "timeout"),
    (TimeoutError(), "timeout"),
    (ValueError("odd"), "other"),
])
def test_classify_aiohttp_errors(exc, expected):
    assert classify(exc)[0] == expected
