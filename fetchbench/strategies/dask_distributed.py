"""dask: the list in chunks over a dask.distributed cluster, threads inside each task.

With ``--scheduler tcp://HOST:8786`` (``SCHEDULER_ENV``) the chunks go to
that running cluster; without, to a ``LocalCluster`` started here: one
worker process per CPU this run is pinned to, one task thread each, on
127.0.0.1. Each task (``dask_chunk.fetch_chunk``) fetches its chunk with a
bounded pool of threads (why threads and not gevent: see ``dask_chunk``);
N workers are spread as ceil(N / task slots) threads per task, and at most
two chunks per slot are in flight, so N bounds the concurrency as for the
other strategies.

Times: latencies are measured inside one worker process and never cross a
clock. Each task reports record starts relative to its own start and its
own duration; this client anchors the task's end when the scheduler says
it finished, on this process's clock, so the task started at
``max(sent, finished - duration)``. Starts (and so the makespan) are on the
client's clock; the error is the scheduler's notification delay, not the
skew between hosts. A record's host is in front of its message
(``@host``, see ``dask_chunk.host_tag``): the Record schema stays the one
every other strategy and every saved file uses; the probe counts records
per host and lists the workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence

from distributed import Client, LocalCluster, as_completed

from fetchbench.dask_chunk import Chunk, ChunkResult, chunks_of, fetch_chunk, worker_facts
from fetchbench.record import RECORD_FIELDS, Record
from fetchbench.strategies import SCHEDULER_ENV, Emit, MakeFetcher

CONNECT_TIMEOUT = 30.0  # seconds to reach the scheduler and see a first worker
CHUNKS_PER_SLOT = 4  # chunks per task slot over the run: balance against per-task cost
MAX_CHUNK = 1000
IN_FLIGHT_PER_SLOT = 2  # one running, one queued behind it


@contextlib.contextmanager
def connect(scheduler: str, cpus: int) -> Iterator[Client]:
    """A client of the given scheduler, or of a LocalCluster of ``cpus`` workers."""
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if scheduler:
        with Client(scheduler, timeout=CONNECT_TIMEOUT) as client:
            yield client
        return
    with LocalCluster(n_workers=cpus, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def check_workers(client: Client) -> dict:
    """Every worker's facts; raises when one runs another fetchbench than this one."""
    client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    facts = client.run(worker_facts)
    from fetchbench import __version__

    for address, fact in facts.items():
        if fact["record_fields"] != list(RECORD_FIELDS) or fact["version"] != __version__:
            raise RuntimeError(f"dask worker {address} runs fetchbench {fact['version']}, "
                               f"this is {__version__}: install the same version everywhere")
    return facts


def plan_chunks(count: int, workers: int, slots: int) -> tuple[int, int]:
    """(threads per task, URLs per chunk) for ``workers`` over ``slots`` task slots."""
    threads = max(1, math.ceil(workers / slots))
    size = max(threads, min(MAX_CHUNK, math.ceil(count / (slots * CHUNKS_PER_SLOT))))
    return threads, max(1, size)


def run(urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit) -> dict:
    """Fetch the list on the cluster in chunks; return the cluster's facts for the probe."""
    template = make_fetcher()
    template.close()
    config, label = template.config, template.label
    scheduler = os.environ.get(SCHEDULER_ENV, "")
    with connect(scheduler, len(os.sched_getaffinity(0))) as client:
        facts = check_workers(client)
        slots = sum(info["nthreads"] for info in client.scheduler_info()["workers"].values())
        threads, size = plan_chunks(len(urls), workers, slots)
        fetch = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                 if f.name != "deadline"}
        chunks = [
            Chunk(tuple(r), tuple(urls[i] for i in r), threads, fetch, None,
                  (label.strategy, label.workers, label.cpus, label.round))
            for r in chunks_of(len(urls), size)
        ]
        hosts = _Dispatch(client, chunks, config.deadline, slots * IN_FLIGHT_PER_SLOT,
                          label.t0, emit, template).run()
    return {"dask": {
        "scheduler": scheduler or "LocalCluster",
        "workers": {a: f["host"] for a, f in sorted(facts.items())},
        "task_slots": slots, "threads_per_task": threads, "chunk": size, "chunks": len(chunks),
        "records_per_host": dict(hosts),
    }}


class _Dispatch:
    """Keeps a window of chunks in flight and turns each result into this run's records."""

    def __init__(self, client: Client, chunks: list[Chunk], deadline: float | None,
                 window: int, t0: float, emit: Emit, fetcher) -> None:
        self.client, self.chunks, self.deadline = client, chunks, deadline
        self.window, self.t0, self.emit, self.fetcher = window, t0, emit, fetcher
        self.sent_at: dict[str, tuple[float, Chunk]] = {}
        self.hosts: Counter[str] = Counter()

    def run(self) -> Counter[str]:
        todo = iter(self.chunks)
        running = as_completed()
        for chunk in _take(todo, self.window):
            running.add(self._submit(chunk))
        for future in running:
            finished = time.perf_counter()
            sent, chunk = self.sent_at.pop(future.key)
            try:
                result: ChunkResult = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost task is records, not a crash
                self._lost(chunk, f"dask task failed: {type(exc).__name__}: {exc}")
            else:
                self._accept(result, max(sent, finished - result.elapsed))
            for nxt in _take(todo, 1):
                running.add(self._submit(nxt))
        return self.hosts

    def _submit(self, chunk: Chunk):
        now = time.perf_counter()
        left = None if self.deadline is None else max(0.0, self.deadline - now)
        future = self.client.submit(fetch_chunk, dataclasses.replace(chunk, time_left=left),
                                    pure=False)
        self.sent_at[future.key] = (now, chunk)
        return future

    def _accept(self, result: ChunkResult, began: float) -> None:
        """Re-base the task's starts onto this run's origin (client clock)."""
        shift = began - self.t0
        for row in result.rows:
            record = Record(*row)
            record.start += shift
            self.emit(record)
        self.hosts[result.host] += len(result.rows)

    def _lost(self, chunk: Chunk, reason: str) -> None:
        for index, url in zip(chunk.indices, chunk.urls, strict=True):
            record = self.fetcher.not_run(index, url, reason, error="worker_died")
            self.emit(record)


def _take(items: Iterator[Chunk], count: int) -> list[Chunk]:
    taken = []
    for item in items:
        taken.append(item)
        if len(taken) == count:
            break
    return taken
