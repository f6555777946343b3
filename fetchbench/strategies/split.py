"""Split a run over k fresh child interpreters, one per pinned CPU: multi-core gevent/asyncio.

A single gevent or asyncio process uses one core however many it is given.
This runs k children of a one-core strategy (gevent-pool for
``process-gevent``, asyncio for ``process-asyncio``) through the runner's own
``ChildRun``, so each child is exactly what that strategy's child always is:
a fresh interpreter, patched by gevent first where needed, here pinned to one
CPU of this process's affinity (distinct CPUs). Child j takes every k-th URL
from j, with N/k of the N workers (the remainder to the first children);
its records come back with their indices mapped onto the whole list and
the label of this run. Every child's records share this run's time origin
(the job's ``t0``; CLOCK_MONOTONIC is one clock for every process on the
machine), so starts and makespans are comparable with any other strategy.
Their CPU time is in this process's (``wait4`` counts reaped descendants).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from fetchbench.record import Record
from fetchbench.runner import ChildRun, FetchOptions, PlannedRun
from fetchbench.strategies import LOOP_ENV, SCHEDULER_ENV, STRATEGIES, Emit, MakeFetcher

if TYPE_CHECKING:
    from fetchbench.fetch import RunLabel

PROBE_KEYS = ("pid", "affinity", "gevent_patched", "socket_class", "loop")


@dataclass(frozen=True)
class Slice:
    """One child's share: the URL indices it fetches and its pool size."""

    cpu: int
    indices: list[int]
    workers: int


def plan_slices(count: int, workers: int, cpus: Sequence[int]) -> list[Slice]:
    """k = min(CPUs, workers, URLs) slices; URLs dealt round-robin, workers split evenly."""
    k = max(1, min(len(cpus), workers, count))
    share, left = divmod(max(workers, k), k)
    return [
        Slice(cpus[j], list(range(j, count, k)), share + (1 if j < left else 0))
        for j in range(k)
    ]


class _SliceRun(ChildRun):
    """A ChildRun pinned to one given CPU and started at the parent run's ``t0``."""

    def __init__(self, planned: PlannedRun, urls: Sequence[str], options: FetchOptions,
                 cpu: int, t0: float) -> None:
        super().__init__(planned, urls, options)
        self.cpu_ids = [cpu]
        self.t0 = t0

    def job(self) -> dict:
        return {**super().job(), "t0": self.t0}  # cpu_ids: the job sends self.cpu_ids


def child_options(make_fetcher: MakeFetcher) -> tuple[FetchOptions, RunLabel]:
    """This run's fetch options for the children, and its label (from a fetcher)."""
    template = make_fetcher()
    template.close()
    config, label = template.config, template.label
    shared = {f.name: getattr(config, f.name) for f in fields(FetchOptions)
              if hasattr(config, f.name)}  # timeout, max_bytes, keepalive, client, …
    deadline = config.deadline
    options = FetchOptions(**shared)
    options = replace(
        options,
        max_time=None if deadline is None else max(0.0, deadline - label.t0),
        loop=os.environ.get(LOOP_ENV, options.loop),
        scheduler=os.environ.get(SCHEDULER_ENV) or None,
    )
    return options, label


def run_split(
    inner: str, urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit
) -> dict:
    """Run ``inner`` in one child per CPU of this process; return the children's probes."""
    options, label = child_options(make_fetcher)
    slices = plan_slices(len(urls), workers, sorted(os.sched_getaffinity(0)))
    children = [
        _SliceRun(PlannedRun(STRATEGIES[inner], piece.workers, 1, label.round),
                  [urls[i] for i in piece.indices], options, piece.cpu, label.t0)
        for piece in slices
    ]
    metas: list = [None] * len(children)

    def drive(j: int) -> None:
        def accept(records: list) -> None:
            emit_remapped(records, slices[j].indices, label, emit)

        try:
            metas[j] = children[j].run(accept)
        except BaseException:  # noqa: BLE001 - the lost URLs are filled in by the worker
            metas[j] = None

    threads = [threading.Thread(target=drive, args=(j,), daemon=True)
               for j in range(len(children))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        _interrupt(children, threads)
        raise
    return {
        "inner": inner,
        "children": [
            {"cpu_ids": child.cpu_ids, "workers": piece.workers, "urls": len(piece.indices),
             "complete": bool(meta and meta.complete),
             "cpu_s": round(meta.cpu_s, 3) if meta else None,
             **{k: meta.probe[k] for k in PROBE_KEYS if meta and k in meta.probe}}
            for child, piece, meta in zip(children, slices, metas, strict=True)
        ],
    }


def emit_remapped(records: list[Record], indices: list[int], label: RunLabel, emit: Emit) -> None:
    """Emit a child's records as this run's, with whole-list indices."""
    for record in records:
        record.index = indices[record.index]
        record.strategy, record.workers, record.cpus = label.strategy, label.workers, label.cpus
        emit(record)


def _interrupt(children: list[ChildRun], threads: list[threading.Thread]) -> None:
    """Ctrl-C: pass SIGINT on to every child, then let each finish reporting."""
    for child in children:
        process = child.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
    for thread in threads:
        thread.join(timeout=10.0)
