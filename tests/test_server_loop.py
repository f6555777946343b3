"""server_loop: the server's timers fire on time, and descriptors are still reported."""

from __future__ import annotations

import asyncio
import selectors
import socket
import statistics
import time

import pytest

from fetchbench.server_loop import PreciseEpollSelector, new_event_loop

pytestmark = pytest.mark.skipif(not hasattr(selectors, "EpollSelector"), reason="Linux epoll")

WAIT = 0.0025  # a timer between two whole milliseconds, where epoll rounds up


def median_lateness(selector: selectors.BaseSelector, samples: int = 30) -> float:
    async def measure() -> float:
        late = []
        for _ in range(samples):
            began = time.perf_counter()
            await asyncio.sleep(WAIT)
            late.append(time.perf_counter() - began - WAIT)
        return statistics.median(late)

    loop = asyncio.SelectorEventLoop(selector)
    try:
        return loop.run_until_complete(measure())
    finally:
        loop.close()


def test_timers_fire_later_with_epoll_rounding_than_without():
    stock = median_lateness(selectors.EpollSelector())
    precise = median_lateness(PreciseEpollSelector())
    assert precise < stock, (precise, stock)


def test_ready_descriptors_are_still_reported():
    left, right = socket.socketpair()
    with left, right, PreciseEpollSelector() as selector:
        selector.register(left, selectors.EVENT_READ, "left")
        assert selector.select(0.05) == []  # nothing yet: waits out the timeout
        right.send(b"x")
        events = selector.select(5.0)  # returns at once: the data is there
        assert [(key.data, mask) for key, mask in events] == [("left", selectors.EVENT_READ)]


def test_the_server_loop_uses_the_precise_selector():
    loop = new_event_loop()
    try:
        assert isinstance(loop._selector, PreciseEpollSelector)  # noqa: SLF001 - what we built
    finally:
        loop.close()
