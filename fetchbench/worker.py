"""The fresh child interpreter of one strategy run.

Started as ``python -m fetchbench.worker`` by the runner. It reads a job
(one JSON line, then one URL per line) from stdin, pins itself to its CPUs,
monkey-patches gevent *first* when the strategy needs it, runs the strategy
and streams records back on its original stdout as frames (``fetchbench.frames``):

    {"records": [(field, ...), ...]}   batches, in RECORD_FIELDS order
    {"meta": {...}}                    last: wall time, completeness, probe

The probe carries the tool's own overhead as the child saw it (``overhead``):
median and p90 of the gap between the end of a worker's request and the
start of its next (record, emit, the strategy's dispatch, and waiting for the
CPU; forked process workers are not seen), and the mean time spent in
``emit`` per record.

Only stdlib modules (and fetchbench's stdlib-only ``frames``, ``record``
and ``rlimits``) are imported before the patch, so nothing in the
process ever sees an unpatched socket (or, for other strategies, a patched
one). Anything the strategy prints goes to stderr, never into the data.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fetchbench.frames import encode
from fetchbench.record import ROW
from fetchbench.rlimits import raise_open_files_limit

if TYPE_CHECKING:
    from fetchbench.fetch import RunLabel

FLUSH_RECORDS = 256
FLUSH_SECONDS = 0.05
EXIT_INTERRUPTED = 130
INTERRUPT_GRACE_SECONDS = 3.0  # the parent waits 5 s for the child's last frames


class Emitter:
    """Batches records and writes them to the data descriptor; thread-safe.

    The buffer lock is never held across a write: a thread that fills a batch
    takes it and writes it under a separate write lock, so the others (which
    may have to wait for the GIL that the write gave away) never queue behind it.
    Under gevent (``threads=False``) nothing in here yields, so no lock is taken.
    """

    def __init__(
        self, fd: int, count: int, as_row: Callable[[Any], tuple] | None = None,
        threads: bool = True,
    ) -> None:
        self.fd = fd
        self.as_row = as_row or ROW
        self.seen = bytearray(count)
        self.lock: Any = threading.Lock() if threads else contextlib.nullcontext()
        self.write_lock: Any = threading.Lock() if threads else contextlib.nullcontext()
        self.rows: list[tuple] = []
        self.lost_to_dead_workers = 0
        self.not_run = 0
        self.last_flush = time.perf_counter()
        self.busy = 0.0  # seconds spent in __call__ (lock waits included), under lock
        self.write_busy = 0.0  # seconds spent serializing and writing, under write_lock
        self.calls = 0

    def __call__(self, record: Any) -> None:
        began = time.perf_counter()
        batch = None
        with self.lock:
            if self.seen[record.index]:
                return  # a strategy must never report a URL twice; keep the first
            self.seen[record.index] = 1
            if record.error == "worker_died":
                self.lost_to_dead_workers += 1
            elif record.error == "not_run":
                self.not_run += 1
            self.rows.append(self.as_row(record))
            if len(self.rows) >= FLUSH_RECORDS or began - self.last_flush >= FLUSH_SECONDS:
                batch, self.rows, self.last_flush = self.rows, [], began
            self.calls += 1
            self.busy += time.perf_counter() - began
        if batch is not None:
            self.send({"records": batch})

    def flush(self) -> None:
        """Write whatever is buffered."""
        with self.lock:
            batch, self.rows, self.last_flush = self.rows, [], time.perf_counter()
        if batch:
            self.send({"records": batch})

    def send(self, message: dict) -> None:
        """Write one frame, completely."""
        began = time.perf_counter()
        data = memoryview(encode(message))
        with self.write_lock:
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
            self.write_busy += time.perf_counter() - began


def read_job() -> tuple[dict, list[str]]:
    """The job header and the URL list from stdin."""
    stdin = sys.stdin.buffer
    job = json.loads(stdin.readline())
    urls = [line.decode("utf-8").rstrip("\n") for line in stdin]
    return job, urls


def open_fds() -> int:
    """How many descriptors this process has open (Linux /proc)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def probe(native_ids: set[int]) -> dict:
    """What this child can see of its own isolation, for the isolation test."""
    import socket

    patched = False
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:
        patched = bool(monkey.is_module_patched("socket"))
    return {
        "pid": os.getpid(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "socket_class": f"{socket.socket.__module__}.{socket.socket.__name__}",
        "gevent_patched": patched,
        "native_threads": len(native_ids),
    }


def cpu_seconds() -> float:
    """User + system CPU of this process and of the children it has reaped."""
    import resource

    own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


def overhead(gaps: array) -> dict:
    """Median and p90 (ms) of the gaps between a worker's requests, and how many."""
    if not gaps:
        return {"gap_p50_ms": None, "gap_p90_ms": None, "gaps": 0}
    ordered = sorted(gaps)
    count = len(ordered)
    return {
        "gap_p50_ms": round(ordered[count // 2] * 1000, 4),
        "gap_p90_ms": round(ordered[min(count - 1, count * 9 // 10)] * 1000, 4),
        "gaps": count,
    }


def main() -> int:
    """Run one job; exit 0 when complete, 130 when interrupted."""
    data_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints land on stderr, never in the data stream
    install_stop_handlers()
    job, urls = read_job()
    if job["cpu_ids"]:
        os.sched_setaffinity(0, job["cpu_ids"])
    raise_open_files_limit()
    if job["uses_gevent"]:
        from gevent import monkey

        monkey.patch_all()
        _quiet_hub_on_ctrl_c()
    return run_job(job, urls, data_fd)


def install_stop_handlers() -> None:
    """SIGINT and SIGTERM (a CI job cancelled signals the whole group) both stop
    the run as Ctrl-C does, so the records and the meta frame still reach the parent."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop_once)


def _stop_once(signum: int, frame: object) -> None:
    """The first stop signal raises KeyboardInterrupt; any later one does nothing.

    Two often arrive together (the group's SIGTERM and the parent's SIGINT):
    the second must not interrupt the shutdown that sends the records.
    """
    ignore_stop_signals()
    raise KeyboardInterrupt


def ignore_stop_signals() -> None:
    """From now on SIGINT and SIGTERM do nothing here (a Python no-op: unlike
    SIG_IGN, it is not inherited by a program this process execs)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _ignore_signal)


def _ignore_signal(signum: int, frame: object) -> None:
    """A stop signal after the first: the run is already stopping."""


def _quiet_hub_on_ctrl_c() -> None:
    """Ctrl-C still stops the run, but gevent's hub must not print it to stderr."""
    from gevent.hub import Hub

    Hub.NOT_ERROR = (*Hub.NOT_ERROR, KeyboardInterrupt)


def run_job(job: dict, urls: list[str], data_fd: int) -> int:
    """Run the strategy, fill any gap, and send the meta frame."""
    import importlib

    from fetchbench.fetch import GEVENT_CLIENTS, FetchConfig, Fetcher, RunLabel

    emit = Emitter(data_fd, len(urls), threads=not job["uses_gevent"])
    strategy = importlib.import_module(job["module"])  # imports are start-up, not the run:
    run = strategy.run
    if job["uses_gevent"] and job.get("client") in GEVENT_CLIENTS:  # imported lazily:
        with contextlib.suppress(ImportError):  # missing, it fails in make_fetcher, as a record
            importlib.import_module(job["client"])
    cpu0 = cpu_seconds()
    t0 = job.get("t0") or time.perf_counter()  # a parent run's origin (process-gevent)
    label = RunLabel(job["strategy"], job["workers"], job["cpus"], job["round"], t0)
    max_time = job.get("max_time")
    config = FetchConfig(
        timeout=job["timeout"],
        max_bytes=job["max_bytes"],
        keepalive=job["keepalive"],
        deadline=None if max_time is None else t0 + max_time,
        client=job.get("client", "requests"),
    )
    native_ids: set[int] = set()
    get_native_id = threading.get_native_id
    gaps = array("d")

    stop = threading.Event()  # set on Ctrl-C: nothing new starts, in-flight requests finish

    def make_fetcher(*, prepare: bool = False) -> Fetcher:
        native_ids.add(get_native_id())
        fetcher = Fetcher(config, label, gaps, stop)
        if prepare and urls:  # client set-up is start-up, like building the client
            fetcher.prepare(urls[0])
        return fetcher

    fds_before = open_fds()
    complete, note, status = True, "", 0
    extra: dict | None = None  # facts a strategy returns for the probe
    try:
        extra = run(urls, job["workers"], make_fetcher, emit)
    except KeyboardInterrupt:
        ignore_stop_signals()  # as _stop_once does; here too for a KeyboardInterrupt of another origin
        complete, note, status = False, "interrupted", EXIT_INTERRUPTED
        stop.set()
        _let_in_flight_finish(emit, min(config.timeout + 0.5, INTERRUPT_GRACE_SECONDS))
    except Exception as exc:  # noqa: BLE001 - a strategy bug still yields records
        complete, note, status = False, f"strategy failed: {type(exc).__name__}: {exc}", 1
    wall = time.perf_counter() - t0
    missing = _fill_gaps(emit, urls, label, note or "not reported by the strategy")
    if missing and complete:
        complete, note = False, f"{missing} URLs not reported by the strategy"
    if emit.not_run and not note:
        note = f"{emit.not_run} URLs not run: --max-time reached"
    short_handed = (extra or {}).get("not_ready")  # fewer workers than asked ran the list
    if emit.lost_to_dead_workers and (complete or short_handed):
        complete = False
        note = _join(note, f"a worker died: {emit.lost_to_dead_workers} URLs recorded as "
                           "worker_died")
    if short_handed:  # not the run asked for, whatever else happened: said first
        complete, note = False, _join(short_handed, note)
    emit.flush()
    facts = probe(native_ids) | {"fds_before": fds_before, "fds_after": open_fds()}
    facts["client"] = getattr(strategy, "CLIENT", config.client)  # aiohttp's own, or --client
    facts["cpu_run_s"] = round(cpu_seconds() - cpu0, 4)  # interpreter start-up excluded
    facts["overhead"] = overhead(gaps) | {
        "emit_us_mean": (round(1e6 * (emit.busy + emit.write_busy) / emit.calls, 3)
                         if emit.calls else None),
    }
    facts.update(extra or {})
    meta = {"wall_s": wall, "complete": complete, "note": note, "probe": facts}
    emit.send({"meta": meta})
    return status


def _join(*notes: str) -> str:
    """The run's note from its parts, empty ones left out."""
    return "; ".join(part for part in notes if part)


def _let_in_flight_finish(emit: Emitter, grace: float) -> None:
    """After Ctrl-C, give requests already on the wire up to ``grace`` seconds."""
    give_up = time.perf_counter() + grace
    while emit.seen.count(0) and time.perf_counter() < give_up:
        time.sleep(0.02)  # under gevent this lets the greenlets run


def _fill_gaps(emit: Emitter, urls: list[str], label: RunLabel, reason: str) -> int:
    """Give every URL that has no record a ``not_run`` one; return how many.

    No client is built for it: a client that cannot be built is often why URLs
    are missing (the strategy failed making its fetchers)."""
    from fetchbench.fetch import make_record

    missing = [i for i, seen in enumerate(emit.seen) if not seen]
    for index in missing:
        emit(make_record(label, index, urls[index], error="not_run", message=reason))
    return len(missing)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:  # the parent is gone (killed): nobody left to tell
        sys.exit(EXIT_INTERRUPTED)
