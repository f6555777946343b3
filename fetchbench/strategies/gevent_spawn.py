"""gevent-spawn: one greenlet (and so one Session) per URL, all joined at once.

Imported only in a child whose first act was ``gevent.monkey.patch_all()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import gevent

from fetchbench.strategies import Emit, MakeFetcher


def run(urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit) -> None:
    """Spawn a greenlet per URL, unbounded, and wait for all of them."""

    def fetch_one(index: int, url: str) -> None:
        fetcher = make_fetcher()
        try:
            emit(fetcher.fetch(index, url))
        finally:
            fetcher.close()

    greenlets = [gevent.spawn(fetch_one, index, url) for index, url in enumerate(urls)]
    gevent.joinall(greenlets)
