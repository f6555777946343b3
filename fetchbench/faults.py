"""A target list that mixes every fault of the embedded server with healthy URLs.

Each case names the error class a correct client must record for it and,
where the body is well defined, the exact byte count. The fault-matrix test
and ``benchmarks/fault_matrix.py`` (the README's reliability figures) both
use this one list, so the table and the test cannot drift apart.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from fetchbench.record import Record
from fetchbench.runner import FetchOptions
from fetchbench.server_process import EmbeddedServer

FAULT_TIMEOUT = 1.0  # --timeout for a fault-matrix run: the stall (5 s) must exceed it
FAULT_MAX_BYTES = 500_000  # --max-bytes: the 600,000-byte case must exceed it


@dataclass(frozen=True)
class FaultCase:
    """One URL of the matrix and what must be recorded for it."""

    name: str
    url: str
    error: str  # expected error class; "" = success
    bytes: int | None = None  # expected body bytes, when exact

    def matches(self, record: Record) -> bool:
        """True when ``record`` has the expected class (and bytes, where exact)."""
        return record.error == self.error and (self.bytes is None or record.bytes == self.bytes)


def fault_options(client: str = "requests") -> FetchOptions:
    """The fetch settings of a fault-matrix run: short timeout, small --max-bytes."""
    return FetchOptions(timeout=FAULT_TIMEOUT, max_bytes=FAULT_MAX_BYTES, client=client)


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that is bound but never listening: connecting is refused."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def fault_cases(server: EmbeddedServer, refused_port: int) -> list[FaultCase]:
    """Every fault, plus healthy URLs, a refused port and an unresolvable host."""
    url = server.url
    return [
        FaultCase("healthy 1 KB", url("/ok/1", bytes=1000), "", 1000),
        FaultCase("healthy 70 KB", url("/ok/2", bytes=70_000), "", 70_000),
        FaultCase("status=503", url("/s503", status=503, bytes=10), "http_5xx", 10),
        FaultCase("status=404", url("/s404", status=404, bytes=10), "http_4xx", 10),
        FaultCase("reset=1", url("/reset", reset=1, bytes=50_000), "reset"),
        FaultCase("stall=5", url("/stall", stall=5), "timeout"),
        FaultCase("truncate=100", url("/truncate", truncate=100, bytes=1000), "truncated"),
        FaultCase("drip=0.2", url("/drip", drip=0.2, bytes=3000), "", 3000),
        FaultCase("redirect=3", url("/redirect", redirect=3, bytes=500), "", 500),
        FaultCase("redirect=1000", url("/loop", redirect=1000), "too_many_redirects"),
        FaultCase("chunked=1", url("/chunked", chunked=1, bytes=40_000), "", 40_000),
        FaultCase("close=1", url("/close", close=1, bytes=777), "", 777),
        FaultCase("empty body", url("/ok/3", bytes=0), "", 0),
        FaultCase("refused", f"http://127.0.0.1:{refused_port}/refused", "connect"),
        FaultCase("unresolvable", "http://fetchbench-test.invalid/dns", "dns"),
        FaultCase("past --max-bytes", url("/bigger", bytes=600_000), "too_large"),
    ]
