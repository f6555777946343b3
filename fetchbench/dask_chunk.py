"""The dask task: fetch one chunk of URLs inside a dask worker, return plain rows.

Runs on a dask worker (any host), so it must not rely on anything of the
client's process: it gets the URLs, the fetch settings and the time left
for ``--max-time``, and answers with its records as plain tuples (in
``RECORD_FIELDS`` order, ``start`` relative to the task's own start), how
long the task took, and the host it ran on. Only durations leave the
worker: the client places them on its own clock (see
``strategies.dask_distributed``), so clock skew between hosts does not matter.

Threads, not gevent: a dask worker is a tornado/asyncio process that runs
tasks in its own thread pool; monkey-patching it would turn its event loop,
comms and thread pool into greenlets under its feet (and gevent must patch
before anything else is imported, which is long past in a worker). A
bounded pool of plain threads, each with its own ``fetch.Fetcher``, is what
the thread strategy measures and is safe in any worker.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from fetchbench.fetch import FetchConfig, Fetcher, RunLabel


@dataclass(frozen=True)
class Chunk:
    """What one task fetches and how: everything it needs, nothing host-specific."""

    indices: tuple[int, ...]
    urls: tuple[str, ...]
    threads: int
    fetch: dict  # FetchConfig fields, except the deadline
    time_left: float | None  # seconds of --max-time left when the chunk was sent
    label: tuple[str, int, int, int]  # strategy, workers, cpus, round


@dataclass(frozen=True)
class ChunkResult:
    """A task's answer: rows with task-relative starts, the task's duration, where it ran."""

    rows: list[tuple]
    elapsed: float  # perf_counter() from the task's start to its end, on the worker
    host: str
    worker: str  # the dask worker's address ("" outside a worker)


def host_tag(host: str, message: str) -> str:
    """A record's message with the host it was fetched from in front: ``@host …``."""
    return f"@{host} {message}" if message else f"@{host}"


def split_host(message: str) -> tuple[str, str]:
    """(host, rest) of a message made by ``host_tag``; ("", message) otherwise."""
    if not message.startswith("@"):
        return "", message
    host, _, rest = message[1:].partition(" ")
    return host, rest


def fetch_chunk(chunk: Chunk) -> ChunkResult:
    """Fetch every URL of the chunk with ``chunk.threads`` threads; never raises per URL."""
    t0 = time.perf_counter()
    config = FetchConfig(
        **chunk.fetch, deadline=None if chunk.time_left is None else t0 + chunk.time_left)
    label = RunLabel(*chunk.label, t0)
    host = socket.gethostname()
    rows: list[tuple] = []
    lock = threading.Lock()
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for position in range(len(chunk.urls)):
        todo.put(position)

    def work() -> None:
        fetcher = Fetcher(config, label)
        try:
            while True:
                try:
                    position = todo.get_nowait()
                except queue.Empty:
                    return
                record = fetcher.fetch(chunk.indices[position], chunk.urls[position])
                record.message = host_tag(host, record.message)
                with lock:
                    rows.append(record.as_row())
        finally:
            fetcher.close()

    _run_threads(work, max(1, min(chunk.threads, len(chunk.urls))))
    return ChunkResult(rows, time.perf_counter() - t0, host, _worker_address())


def _run_threads(work, count: int) -> None:
    threads = [threading.Thread(target=work, name=f"fetchbench-dask-{n}", daemon=True)
               for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return ""


def worker_facts() -> dict:
    """What the client checks on each worker before sending chunks (run via Client.run)."""
    import fetchbench
    from fetchbench.record import RECORD_FIELDS

    return {"host": socket.gethostname(), "version": fetchbench.__version__,
            "record_fields": list(RECORD_FIELDS)}


def chunks_of(count: int, size: int) -> Sequence[range]:
    """Consecutive index ranges of at most ``size`` covering ``range(count)``."""
    return [range(i, min(i + size, count)) for i in range(0, count, size)]
