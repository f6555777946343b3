"""thread: N OS threads, each with its own Session, pulling from one queue."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from fetchbench.strategies import Emit, MakeFetcher


def run(urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit) -> None:
    """Fetch with ``workers`` threads; each URL is taken by exactly one thread."""
    tasks: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(urls)):
        tasks.put(index)

    def work() -> None:
        fetcher = make_fetcher()
        try:
            while True:
                try:
                    index = tasks.get_nowait()
                except queue.Empty:
                    return
                emit(fetcher.fetch(index, urls[index]))
        finally:
            fetcher.close()

    threads = [
        threading.Thread(target=work, name=f"fetchbench-{n}", daemon=True)
        for n in range(min(workers, max(1, len(urls))))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
