"""gevent-pool: ``gevent.pool.Pool(N)``: at most N greenlets at a time.

Each in-flight greenlet borrows one of N Sessions, so every connection is
used by one greenlet at a time (a shared urllib3 pool can deadlock under
many greenlets). Imported only in a child that patched gevent first.
"""

from __future__ import annotations

from collections.abc import Sequence

from gevent.pool import Pool
from gevent.queue import Queue

from fetchbench.fetch import Fetcher
from fetchbench.strategies import Emit, MakeFetcher


def run(urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit) -> None:
    """Fetch through a bounded pool of ``workers`` greenlets."""
    size = max(1, min(workers, len(urls)))
    fetchers = [make_fetcher(prepare=True) for _ in range(size)]
    idle: Queue[Fetcher] = Queue()
    for fetcher in fetchers:
        idle.put(fetcher)

    def fetch_one(index: int) -> None:
        fetcher = idle.get()
        try:
            emit(fetcher.fetch(index, urls[index]))
        finally:
            idle.put(fetcher)

    pool = Pool(size)
    try:
        for index in range(len(urls)):
            pool.spawn(fetch_one, index)
        pool.join()
    finally:
        for fetcher in fetchers:
            fetcher.close()
