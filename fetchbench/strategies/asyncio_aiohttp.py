"""asyncio: N worker tasks on one event loop, one aiohttp session for the run.

The session's connector allows at most N connections, one per worker task,
so N bounds the concurrency exactly as it does for thread and gevent-pool.
The loop is asyncio's default, or uvloop with ``--loop uvloop``; the one
used is returned for the run's probe (``loop``, ``loop_class``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from fetchbench.strategies import LOOP_ENV, Emit, MakeFetcher

CLIENT = "aiohttp"  # whatever --client says: the run's probe names this client


def new_loop(name: str) -> tuple[asyncio.AbstractEventLoop, str]:
    """A fresh event loop of the kind asked for, and the kind actually used."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:  # the CLI refuses this; a library caller gets the default
            return asyncio.new_event_loop(), "asyncio (uvloop not installed)"
        return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"


def run(urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit) -> dict:
    """Fetch with ``workers`` tasks on one loop; return what the probe should show."""
    loop, used = new_loop(os.environ.get(LOOP_ENV, "asyncio"))
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_fetch_all(urls, workers, make_fetcher, emit))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())  # the DNS threads
        finally:
            asyncio.set_event_loop(None)
            loop.close()
    kind = type(loop)
    return {"loop": used, "loop_class": f"{kind.__module__}.{kind.__name__}"}


async def _fetch_all(
    urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit
) -> None:
    from fetchbench.aiofetch import AsyncFetcher, new_session

    template = make_fetcher()  # the run's config, label and gap array, as every strategy gets
    template.close()
    size = max(1, min(workers, len(urls)))
    pending = iter(range(len(urls)))
    async with new_session(template.config, size) as session:

        async def work() -> None:
            fetcher = AsyncFetcher(session, template.config, template.label,
                                   template.gaps)
            while (index := next(pending, None)) is not None:
                emit(await fetcher.fetch(index, urls[index]))

        await asyncio.gather(*(work() for _ in range(size)))
