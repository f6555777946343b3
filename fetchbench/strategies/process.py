"""process: N ``multiprocessing`` workers, each with its own Session.

URLs go out in small chunks over a task Queue; each worker sends back the
chunk it takes and then the chunk's records as plain tuples (one message
per chunk, not per record). A worker that dies costs only the chunk it
held: those URLs are recorded as ``worker_died`` and the run goes on.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Sequence

from fetchbench.record import Record
from fetchbench.strategies import Emit, MakeFetcher

POLL_SECONDS = 0.1


def chunk_size(count: int, workers: int) -> int:
    """Small enough to balance the load, large enough to batch the IPC."""
    return max(1, min(32, count // (workers * 8)))


def _work(make_fetcher: MakeFetcher, urls: Sequence[str], tasks, results) -> None:
    fetcher = make_fetcher()
    try:
        while True:
            chunk = tasks.get()
            if chunk is None:
                return
            chunk_id, indices = chunk
            results.put(("take", chunk_id, None))
            rows = [fetcher.fetch(i, urls[i]).as_row() for i in indices]
            results.put(("done", chunk_id, rows))
    except KeyboardInterrupt:
        return
    finally:
        fetcher.close()


def run(urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit) -> None:
    """Fetch with ``workers`` forked processes (fork: the child is unpatched)."""
    context = multiprocessing.get_context("fork")
    size = max(1, min(workers, len(urls)))
    step = chunk_size(len(urls), size)
    chunks = [list(range(i, min(i + step, len(urls)))) for i in range(0, len(urls), step)]
    tasks = context.Queue()
    results = context.Queue()
    for chunk_id, indices in enumerate(chunks):
        tasks.put((chunk_id, indices))
    for _ in range(size):
        tasks.put(None)
    processes = [
        context.Process(target=_work, args=(make_fetcher, urls, tasks, results), daemon=True)
        for _ in range(size)
    ]
    for process in processes:
        process.start()
    taken: set[int] = set()
    done: set[int] = set()
    try:
        while len(done) < len(chunks):
            try:
                kind, chunk_id, rows = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not any(p.is_alive() for p in processes):
                    break
                continue
            if kind == "take":
                taken.add(chunk_id)
                continue
            done.add(chunk_id)
            for row in rows:
                emit(Record(*row))
    finally:
        _report_lost(chunks, taken, done, processes, urls, make_fetcher, emit)
        for process in processes:
            process.join(timeout=1.0)
            if process.is_alive():
                process.kill()
                process.join()


def _report_lost(chunks, taken, done, processes, urls, make_fetcher, emit) -> None:
    """Record the URLs of chunks a dead worker held (``worker_died``)."""
    lost = taken - done
    if not lost:
        return
    dead = [p for p in processes if p.exitcode not in (None, 0)]
    reason = ", ".join(f"pid {p.pid} exit {p.exitcode}" for p in dead) or "worker exited"
    fetcher = make_fetcher()
    try:
        for chunk_id in sorted(lost):
            for index in chunks[chunk_id]:
                record = fetcher.not_run(index, urls[index], f"worker died ({reason})")
                record.error = "worker_died"
                emit(record)
    finally:
        fetcher.close()
