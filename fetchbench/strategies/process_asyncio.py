"""process-asyncio: one asyncio child per pinned CPU, each N/k tasks on its own loop.

The asyncio strategy (one aiohttp session, ``--loop``) in k children, as
process-gevent does for gevent-pool (see ``split``).
"""

from __future__ import annotations

from collections.abc import Sequence

from fetchbench.strategies import Emit, MakeFetcher
from fetchbench.strategies.split import run_split

CLIENT = "aiohttp"  # whatever --client says: the probe's client (an interrupted run's too)


def run(urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit) -> dict:
    """Fetch with ``workers`` asyncio tasks spread over one process per CPU."""
    return run_split("asyncio", urls, workers, make_fetcher, emit)
