"""process-gevent: one gevent-patched child per pinned CPU, each a gevent pool of N/k.

Plain gevent-pool runs on one core however many it is pinned to; this runs
k gevent-pool children (see ``split``), so a list whose cost is the client's
CPU per request scales with the CPUs. This process itself is never patched.
"""

from __future__ import annotations

from collections.abc import Sequence

from fetchbench.strategies import Emit, MakeFetcher
from fetchbench.strategies.split import run_split


def run(urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit) -> dict:
    """Fetch with ``workers`` greenlets spread over one gevent process per CPU."""
    return run_split("gevent-pool", urls, workers, make_fetcher, emit)
