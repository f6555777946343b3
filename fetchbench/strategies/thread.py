"""thread: N OS threads, each with its own Session, pulling from one queue.

The threads start behind a gate: each builds its fetcher, then waits until
every thread has built its own. Started one by one instead, thread k's ``start()``
waits for a GIL held by the k-1 threads already fetching (up to a switch
interval each), so the 50th of 50 threads sent its first request ~100 ms
after the first: a ramp that belongs to thread start-up, not to threading's
steady state (the process strategy's pool start-up is likewise not timed).
"""

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

    built = threading.Semaphore(0)  # one release per thread: its fetcher is built (or failed)
    go = threading.Event()
    cancelled = threading.Event()  # the start failed: started threads leave without fetching

    def work() -> None:
        try:
            fetcher = make_fetcher(prepare=True)
        finally:
            built.release()
        try:
            go.wait()
            while not cancelled.is_set():
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
    started: list[threading.Thread] = []
    try:
        for thread in threads:
            thread.start()
            started.append(thread)
        for _ in started:
            built.acquire()
    except BaseException:
        cancelled.set()
        go.set()
        for thread in started:
            thread.join()
        raise
    go.set()
    for thread in threads:
        thread.join()
