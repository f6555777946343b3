"""serial: one loop, one connection: the baseline every other model beats."""

from __future__ import annotations

from collections.abc import Sequence

from fetchbench.strategies import Emit, MakeFetcher


def run(urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit) -> None:
    """Fetch every URL in order with one Session."""
    fetcher = make_fetcher(prepare=True)
    try:
        for index, url in enumerate(urls):
            emit(fetcher.fetch(index, url))
    finally:
        fetcher.close()
