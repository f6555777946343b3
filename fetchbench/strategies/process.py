"""process: N ``multiprocessing`` workers, each with its own Session.

The child dispatches small chunks of URL indices to each worker over the
worker's own Pipe and gets the chunk's records back as one message (plain
tuples: one message per chunk, not per record). No queue or lock is shared
between workers, so a worker killed at any moment cannot block the others:
it costs only the chunk it was fetching (recorded as ``worker_died``); the
chunk queued behind it goes to a live worker and the run goes on.

Two things keep the dispatcher out of the figures: every worker builds its
fetcher and says it is ready before any URL is sent, so the first requests go
out together instead of one fork apart (~2 ms each, ~100 ms for 50 workers);
and one selector holds every worker's pipe and sentinel for the whole run, so
an event costs the dispatcher the ready descriptors, not a fresh wait() over
all of them.

The wait for ready is bounded (``READY_TIMEOUT``): a worker still building its
fetcher then is stopped (SIGTERM, then SIGKILL) and counts as a dead worker
that held nothing, so a worker stuck at start-up cannot hang the run. The run
goes on with the ready ones and says so in the facts it returns
(``not_ready``, which the worker makes the run's note, the run marked
incomplete: it did not run with the workers asked for); with none ready, every URL is a ``worker_died`` record whose
message says how many workers were not ready.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import selectors
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from fetchbench.record import Record
from fetchbench.strategies import Emit, MakeFetcher

CHUNKS_AHEAD = 2  # chunks a worker holds: one in flight, one queued behind it
READY = (-1, [])  # a worker's first message: its fetcher is built
# Seconds, from the last fork, that workers have to say READY. Building a
# fetcher (a requests Session, its first origin's pool; no connection) takes
# ~1 ms warm and a few ms in a fresh fork (copy-on-write faults), so 500
# workers pinned to one busy core need a few seconds; 60 s leaves a margin of
# 10x and more for an overloaded or swapping box, yet bounds a worker stuck at
# start-up to a minute instead of forever.
READY_TIMEOUT = 60.0
STOP_GRACE = 1.0  # seconds a stopped worker has to exit on SIGTERM before SIGKILL
SHUT_DOWN_GRACE = 2.0  # seconds the workers have, in all, to leave after the last chunk


def chunk_size(count: int, workers: int) -> int:
    """Small enough to balance load and bound the loss to a dead worker."""
    return max(1, min(8, count // (workers * 8)))


def _work(make_fetcher: MakeFetcher, urls: Sequence[str], conn: Connection) -> None:
    """Fetch each chunk received; send its records back; stop on None."""
    try:
        fetcher = make_fetcher(prepare=True)
    except KeyboardInterrupt:  # Ctrl-C during start-up: leave quietly, as below
        return
    try:
        conn.send(READY)
        while True:
            chunk = conn.recv()
            if chunk is None:
                return
            chunk_id, indices = chunk
            conn.send((chunk_id, [fetcher.fetch(i, urls[i]).as_row() for i in indices]))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        return
    finally:
        fetcher.close()


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    held: deque[int] = field(default_factory=deque)  # chunk ids sent, in order
    alive: bool = True
    ready: bool = False  # it has sent READY


def run(urls: Sequence[str], workers: int, make_fetcher: MakeFetcher,
        emit: Emit) -> dict | None:
    """Fetch with ``workers`` forked processes (fork: the child is unpatched)."""
    context = multiprocessing.get_context("fork")
    size = max(1, min(workers, len(urls)))
    step = chunk_size(len(urls), size)
    chunks = [list(range(i, min(i + step, len(urls)))) for i in range(0, len(urls), step)]
    pending = deque(range(len(chunks)))
    pool: list[_Worker] = []
    for _ in range(size):
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_work, args=(make_fetcher, urls, child_end), daemon=True)
        process.start()
        child_end.close()
        pool.append(_Worker(process, parent_end))
    lost: list[tuple[int, str]] = []
    events = selectors.DefaultSelector()
    stalled: list[_Worker] = []
    try:
        for worker in pool:
            events.register(worker.conn, selectors.EVENT_READ, worker)
            events.register(worker.process.sentinel, selectors.EVENT_READ, worker)
        stalled = _await_ready(events, pool, pending, lost)
        for worker in pool:
            _top_up(worker, chunks, pending)
        while any(w.alive and w.held for w in pool):
            _serve_events(events, pool, chunks, pending, emit, lost)
        if pending:  # every worker died: the chunks no one could take are theirs too
            reason = f"every worker died ({_all_gone(pool, stalled)})"
            lost.extend((chunk_id, reason) for chunk_id in pending)
            pending.clear()
    finally:
        events.close()
        _shut_down(pool)
    _report_lost(lost, chunks, urls, make_fetcher, emit)
    if not stalled:
        return None
    pids = [w.process.pid for w in stalled]
    shown = ", ".join(map(str, pids[:5])) + (", ..." if len(pids) > 5 else "")
    went_on = sum(w.ready for w in pool)
    label = "pid" if len(pids) == 1 else "pids"
    return {"not_ready": f"{_not_ready(len(stalled))}, stopped ({label} {shown}); "
                         f"the run went on with {went_on} of {size}",
            "not_ready_pids": pids}


def _await_ready(events: selectors.BaseSelector, pool: list[_Worker], pending: deque[int],
                 lost: list[tuple[int, str]]) -> list[_Worker]:
    """Wait until every worker has built its fetcher or died trying, for at most
    ``READY_TIMEOUT`` seconds; stop the workers still building then and return them."""
    give_up = time.monotonic() + READY_TIMEOUT
    while True:
        waiting = [w for w in pool if w.alive and not w.ready]
        left = give_up - time.monotonic()
        if not waiting or left <= 0:
            break
        _receive(events, pending, lost, left, _mark_ready)
    _stop(events, waiting)
    return waiting


def _mark_ready(worker: _Worker, message: object) -> None:
    worker.ready = True  # READY: nothing else comes before a chunk is sent


def _stop(events: selectors.BaseSelector, stalled: list[_Worker]) -> None:
    """Stop workers that never got ready: SIGTERM, then SIGKILL after ``STOP_GRACE``."""
    for worker in stalled:
        _unregister(events, worker)
        worker.alive = False
        worker.process.terminate()
    _reap(stalled, STOP_GRACE)


def _reap(workers: list[_Worker], grace: float) -> None:
    """Join ``workers`` within ``grace`` seconds in all; kill those still running then."""
    give_up = time.monotonic() + grace
    for worker in workers:
        worker.process.join(timeout=max(0.0, give_up - time.monotonic()))
        if worker.process.is_alive():  # SIGTERM did not end it (stuck in C, or ignored)
            worker.process.kill()
            worker.process.join()


def _top_up(worker: _Worker, chunks: list[list[int]], pending: deque[int]) -> None:
    while worker.alive and pending and len(worker.held) < CHUNKS_AHEAD:
        chunk_id = pending.popleft()
        try:
            worker.conn.send((chunk_id, chunks[chunk_id]))
        except (BrokenPipeError, OSError):
            pending.appendleft(chunk_id)
            return
        worker.held.append(chunk_id)


def _serve_events(events: selectors.BaseSelector, pool: list[_Worker], chunks, pending,
                  emit: Emit, lost: list[tuple[int, str]]) -> None:
    """Wait for results or deaths, and act on them."""

    def results(worker: _Worker, message: tuple[int, list]) -> None:
        chunk_id, rows = message
        worker.held.remove(chunk_id)
        for row in rows:
            emit(Record(*row))
        _top_up(worker, chunks, pending)

    if _receive(events, pending, lost, None, results):  # chunks the dead gave back: to the living
        for worker in pool:
            _top_up(worker, chunks, pending)


def _receive(events: selectors.BaseSelector, pending: deque[int], lost: list[tuple[int, str]],
             timeout: float | None, on_message: Callable[[_Worker, Any], None]) -> bool:
    """Wait up to ``timeout`` for events; give each live worker's message to
    ``on_message`` as it is read, and bury a worker whose pipe broke or whose
    process ended with nothing left to read. True if one was buried."""
    buried = False
    for key, _ in events.select(timeout):
        worker: _Worker = key.data
        if not worker.alive:
            continue
        if key.fileobj is worker.conn:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                _unwatch(events, worker, pending, lost)
                buried = True
                continue
            on_message(worker, message)
        elif not worker.conn.poll():
            _unwatch(events, worker, pending, lost)
            buried = True
    return buried


def _unregister(events: selectors.BaseSelector, worker: _Worker) -> None:
    events.unregister(worker.conn)
    events.unregister(worker.process.sentinel)


def _unwatch(events: selectors.BaseSelector, worker: _Worker, pending: deque[int],
             lost: list[tuple[int, str]]) -> None:
    """Stop watching a dead worker and bury it."""
    _unregister(events, worker)
    _bury(worker, pending, lost)


def _bury(worker: _Worker, pending: deque[int], lost: list[tuple[int, str]]) -> None:
    """A worker died: its first held chunk was in flight, the rest go back."""
    worker.alive = False
    worker.process.join(timeout=1.0)
    if worker.held:
        lost.append((worker.held.popleft(), _death(worker)))
    pending.extendleft(reversed(worker.held))
    worker.held.clear()


def _death(worker: _Worker) -> str:
    return f"worker pid {worker.process.pid} died (exit {worker.process.exitcode})"


def _not_ready(count: int) -> str:
    return f"{count} worker{'s' if count != 1 else ''} not ready after {READY_TIMEOUT:g} s"


def _all_gone(pool: list[_Worker], stalled: list[_Worker]) -> str:
    """Why no worker is left: how many were not ready in time, and one that died."""
    died = next((w for w in pool if not w.alive and w not in stalled), None)
    parts = [_not_ready(len(stalled))] if stalled else []
    return "; ".join(parts + ([_death(died)] if died is not None else []))


def _shut_down(pool: list[_Worker]) -> None:
    for worker in pool:
        if worker.alive:
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.conn.send(None)
    _reap(pool, SHUT_DOWN_GRACE)
    for worker in pool:
        worker.conn.close()


def _report_lost(lost, chunks, urls, make_fetcher: MakeFetcher, emit: Emit) -> None:
    """Record the URLs of chunks that died with their worker (``worker_died``)."""
    if not lost:
        return
    fetcher = make_fetcher()
    try:
        for chunk_id, reason in lost:
            for index in chunks[chunk_id]:
                emit(fetcher.not_run(index, urls[index], reason, error="worker_died"))
    finally:
        fetcher.close()
