"""Run the plan: one fresh child interpreter per (strategy, cpus, workers, round).

The parent never fetches and never imports gevent. For each planned run it
starts ``python -m fetchbench.worker``, feeds it the job, streams its
records into the results sink as they arrive, samples the memory of the
child and all its descendants, and takes its CPU time from ``wait4``.
Whatever happens to the child, every URL of the run ends with a record.

A sink with ``add_rows`` gets the child's rows as they came (tuples in
``RECORD_FIELDS`` order, straight to the CSV): no Record object per request
in the parent, so a million-URL run costs the parent little CPU and memory.
The queue between the pipe reader and the parent is bounded, so a parent
that falls behind slows the child down instead of buffering its output.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from fetchbench.frames import FrameError, TornFrame, decode, read_payloads
from fetchbench.record import RECORD_FIELDS, Record, RunMeta
from fetchbench.strategies import LOOP_ENV, SCHEDULER_ENV, Strategy

MEMORY_SAMPLE_SECONDS = 0.05
SAMPLER_JOIN_SECONDS = 2.0  # the sampler's last read (~30 ms for 50 processes) may finish
MEMBER_RESCAN_SECONDS = 1.0  # how often, at most, the child's descendants are listed again
PSS_CPU_SHARE = 0.02  # the PSS reads' CPU time, on average, as a share of one core (PssSchedule)
PAYLOAD_QUEUE = 64  # batches (≤ 256 records each) read ahead of the parent, at most
INDEX = RECORD_FIELDS.index("index")
INTERRUPT_GRACE_SECONDS = 5.0
MAX_TIME_GRACE_SECONDS = 5.0


class ResultsSink(Protocol):
    """Where records and run metadata go (``results.ResultsWriter``)."""

    def add_records(self, records: Sequence[Record]) -> None: ...
    def add_run(self, meta: RunMeta) -> None: ...
    def save(self, complete: bool, interrupted_at: str | None = None) -> object: ...


@dataclass(frozen=True)
class PlannedRun:
    """One strategy run of the plan."""

    strategy: Strategy
    workers: int
    cpus: int
    round: int  # 1-based; warm-up rounds are 0 and not recorded
    warmup: bool = False

    def describe(self) -> str:
        """e.g. ``thread workers=20 cpus=2 round=1``."""
        kind = "warm-up" if self.warmup else f"round={self.round}"
        return f"{self.strategy.name} workers={self.workers} cpus={self.cpus} {kind}"


@dataclass(frozen=True)
class FetchOptions:
    """What every child needs to fetch the way the user asked."""

    timeout: float = 10.0
    max_bytes: int = 100 * 1024 * 1024
    keepalive: bool = True
    max_time: float | None = None
    client: str = "requests"  # fetch.CLIENTS
    loop: str = "asyncio"  # asyncio strategies' event loop: strategies.LOOPS
    scheduler: str | None = None  # dask scheduler address; None: a LocalCluster

    def child_env(self) -> dict[str, str]:
        """The strategy options a child reads from its environment (see strategies)."""
        return {LOOP_ENV: self.loop, SCHEDULER_ENV: self.scheduler or ""}


class Interrupted(Exception):
    """Ctrl-C during a run; ``where`` names the run that was going on."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


def build_plan(
    strategies: Sequence[Strategy],
    workers: Sequence[int] | None,
    cpus: Sequence[int],
    repeat: int = 1,
    warmup: int = 0,
    url_count: int = 1,
) -> list[PlannedRun]:
    """Warm-up rounds first, then ``repeat`` interleaved rounds (A B C A B C)."""
    plan: list[PlannedRun] = []
    for number in range(1, warmup + repeat + 1):
        is_warmup = number <= warmup
        for cpu_count in cpus:
            for strategy in strategies:
                for count in _worker_counts(strategy, workers, cpu_count, url_count):
                    plan.append(
                        PlannedRun(strategy, count, cpu_count,
                                   0 if is_warmup else number - warmup, is_warmup)
                    )
    return plan


def _worker_counts(
    strategy: Strategy, workers: Sequence[int] | None, cpus: int, url_count: int
) -> list[int]:
    if not strategy.pooled or not workers:
        return [strategy.default_workers(cpus, url_count)]
    return list(workers)


def cpu_ids_for(count: int) -> list[int]:
    """The first ``count`` CPUs this process may run on."""
    return sorted(os.sched_getaffinity(0))[:count]


class Runner:
    """Executes a plan against one URL list, streaming into a sink."""

    def __init__(
        self,
        urls: Sequence[str],
        options: FetchOptions,
        sink: ResultsSink,
        progress: Callable[[PlannedRun], ProgressLike] | None = None,
    ) -> None:
        self.urls = urls
        self.options = options
        self.sink = sink
        self.progress = progress

    def run(self, plan: Sequence[PlannedRun]) -> list[RunMeta]:
        """Run every planned run in order, saving after each one."""
        metas: list[RunMeta] = []
        for planned in plan:
            bar = self.progress(planned) if self.progress else None
            try:
                meta = self.run_one(planned, bar)
                if bar is not None and meta.note:
                    bar.set_postfix_str(meta.note)  # e.g. "35 URLs not run: --max-time reached"
            finally:
                if bar is not None:
                    bar.close()
            if not planned.warmup:
                metas.append(meta)
                self.sink.save(complete=False)
        return metas

    def run_one(self, planned: PlannedRun, bar: ProgressLike | None = None) -> RunMeta:
        """One child, one strategy run; raises Interrupted on Ctrl-C (after saving)."""
        child = ChildRun(planned, self.urls, self.options)
        add_rows = getattr(self.sink, "add_rows", None)
        add = add_rows or self.sink.add_records

        def accept(batch: list) -> None:
            if not planned.warmup:
                add(batch)
            if bar is not None:
                bar.update(len(batch))

        interrupted = False
        try:
            meta = child.run(accept, rows=add_rows is not None)
        except KeyboardInterrupt:
            meta, interrupted = child.stop(accept), True
        if not planned.warmup:  # a warm-up's records were never kept: nor is its run
            self.sink.add_run(meta)
        if interrupted:
            raise Interrupted(planned.describe())
        return meta


class ProgressLike(Protocol):
    """The bit of tqdm the runner uses."""

    def update(self, n: int) -> object: ...
    def set_postfix_str(self, s: str) -> object: ...
    def close(self) -> None: ...


class ChildRun:
    """One child interpreter running one strategy over the URL list."""

    def __init__(self, planned: PlannedRun, urls: Sequence[str], options: FetchOptions) -> None:
        self.planned = planned
        self.urls = urls
        self.options = options
        self.cpu_ids = cpu_ids_for(planned.cpus)
        self.seen = bytearray(len(urls))
        self.payloads: queue.Queue[bytes | None] = queue.Queue(PAYLOAD_QUEUE)
        self.stream_error = ""  # a corrupt frame, if one came
        self.as_rows = False
        self.parent_busy = 0.0  # seconds spent handling the child's batches
        self.parent_records = 0
        self.child_meta: dict | None = None
        self.peak_rss = 0
        self.peak_pss: int | None = None  # None: PSS not read (yet) or unreadable here
        self.process: subprocess.Popen[bytes] | None = None
        self._stop_sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def job(self) -> dict:
        """The JSON header the worker reads first."""
        planned, options = self.planned, self.options
        return {
            "strategy": planned.strategy.name,
            "module": planned.strategy.module,
            "uses_gevent": planned.strategy.uses_gevent,
            "workers": planned.workers,
            "cpus": planned.cpus,
            "cpu_ids": self.cpu_ids,
            "round": planned.round,
            "timeout": options.timeout,
            "max_bytes": options.max_bytes,
            "keepalive": options.keepalive,
            "max_time": options.max_time,
            "client": options.client,
        }

    def run(self, accept: Callable[[list], None], *, rows: bool = False) -> RunMeta:
        """Start the child and stream its output until it exits.

        ``accept`` gets each batch as Records, or with ``rows=True`` as plain
        rows in ``RECORD_FIELDS`` order (as ``stop`` does afterwards).
        """
        self.as_rows = rows
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fetchbench.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **self.options.child_env()},
        )
        threading.Thread(target=self._feed, daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()
        self._sampler = threading.Thread(target=self._sample_memory, daemon=True)
        self._sampler.start()
        deadline = None
        if self.options.max_time is not None:
            deadline = (
                _now() + self.options.max_time + self.options.timeout + MAX_TIME_GRACE_SECONDS
            )
        self._drain(accept, deadline)
        return self._finish(accept, "")

    def stop(self, accept: Callable[[list], None]) -> RunMeta:
        """Ctrl-C: ask the child to stop, keep what it finished, leave nothing running."""
        if self.process is None:
            return self._finish(accept, "interrupted before start")
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
        self._drain(accept, _now() + INTERRUPT_GRACE_SECONDS)
        return self._finish(accept, "interrupted")

    def _feed(self) -> None:
        assert self.process is not None and self.process.stdin is not None
        try:
            with self.process.stdin as stdin:
                stdin.write((json.dumps(self.job()) + "\n").encode())
                stdin.writelines((url + "\n").encode() for url in self.urls)
        except (BrokenPipeError, OSError):
            pass  # the child died early; _finish accounts for every URL

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        try:
            for payload in read_payloads(self.process.stdout):
                self.payloads.put(payload)
        except TornFrame:
            pass  # the child died mid-write: what came before counts
        except FrameError as exc:
            self.stream_error = str(exc)
            self._kill()  # nothing after it can be read: stop the child
        finally:
            self.payloads.put(None)

    def _sample_memory(self) -> None:
        """Peak RSS sum (every MEMORY_SAMPLE_SECONDS) and peak PSS sum of the child's tree.

        Listing descendants scans all of /proc, so it is redone at doubling
        intervals (0.05 s, 0.1 s, ... then every MEMBER_RESCAN_SECONDS); reading
        a known process's RSS is one small /proc read. PSS costs ~25x more per
        process (``read_pss``), so all members' PSS is read only when
        ``PssSchedule`` says so (first sample, new RSS peaks, every
        MEMBER_RESCAN_SECONDS), within a CPU budget of PSS_CPU_SHARE of a core.
        """
        import psutil

        assert self.process is not None
        try:
            root = psutil.Process(self.process.pid)
        except psutil.Error:
            return
        members: list[psutil.Process] = [root]
        rescan_every, next_rescan = MEMORY_SAMPLE_SECONDS, 0.0
        pss = PssSchedule() if pss_supported() else None
        while not self._stop_sampling.wait(MEMORY_SAMPLE_SECONDS):
            if _now() >= next_rescan:
                try:
                    members = [root, *root.children(recursive=True)]
                except psutil.Error:
                    return
                next_rescan = _now() + rescan_every
                rescan_every = min(2 * rescan_every, MEMBER_RESCAN_SECONDS)
            total = 0
            for member in members:
                try:
                    total += member.memory_info().rss
                except psutil.Error:
                    continue
            new_peak = total > self.peak_rss
            self.peak_rss = max(self.peak_rss, total)
            if pss is not None and pss.due(_now(), new_peak, total):
                began = time.thread_time()
                pss_total = pss_sum(member.pid for member in members)
                if pss_total is None:  # unreadable (not just gone): no honest sum
                    pss, self.peak_pss = None, None
                else:
                    pss.read(_now(), pss_total, time.thread_time() - began)
                    self.peak_pss = pss.peak

    def _drain(self, accept: Callable[[list], None], deadline: float | None) -> None:
        """Handle the child's messages until EOF (or the deadline: then kill it)."""
        while True:
            timeout = None if deadline is None else max(0.0, deadline - _now())
            try:
                payload = self.payloads.get(timeout=timeout)
            except queue.Empty:
                self._kill()
                return
            if payload is None:
                return
            self._handle(payload, accept)

    def _handle(self, payload: bytes, accept: Callable[[list], None]) -> None:
        began = time.perf_counter()
        message = decode(payload)
        rows = message.get("records")
        if rows is not None:
            seen = self.seen
            for row in rows:
                seen[row[INDEX]] = 1
            accept(rows if self.as_rows else [Record(*row) for row in rows])
            self.parent_records += len(rows)
            self.parent_busy += time.perf_counter() - began
        elif "meta" in message:
            self.child_meta = message["meta"]

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def _finish(self, accept: Callable[[list], None], why: str) -> RunMeta:
        """Reap the child, account for every URL, and build the RunMeta."""
        self._stop_sampling.set()
        if self._sampler is not None:  # a PSS read in progress ends before the peak is taken
            self._sampler.join(timeout=SAMPLER_JOIN_SECONDS)
        cpu_s, status = 0.0, None
        if self.process is not None:
            status, cpu_s = self._reap()
        child = self.child_meta or {}
        complete = bool(child.get("complete", False)) and not why
        note = why or child.get("note", "")
        if not child and not why:
            note = f"worker exited with status {status} before reporting"
            if self.stream_error:
                note = f"worker's output unreadable ({self.stream_error}); it was stopped"
        error = "not_run" if why else "worker_died"
        self._account_for_missing(accept, error, note)
        planned = self.planned
        probe = dict(child.get("probe", {}))
        if self.parent_records:  # the parent's cost per record: parse, account, write
            probe["overhead"] = dict(probe.get("overhead", {})) | {
                "parent_us_per_record": round(1e6 * self.parent_busy / self.parent_records, 3)
            }
        return RunMeta(
            strategy=planned.strategy.name,
            workers=planned.workers,
            cpus=planned.cpus,
            round=planned.round,
            wall_s=float(child.get("wall_s", 0.0)),
            cpu_s=cpu_s,
            peak_rss_mib=self.peak_rss / 2**20,
            peak_pss_mib=self.peak_pss / 2**20 if self.peak_pss else None,  # 0: nothing read
            complete=complete,
            note=note,
            cpu_ids=list(self.cpu_ids),
            probe=probe,
        )

    def _reap(self) -> tuple[int, float]:
        """Wait for the child (killing it after a grace period) with ``wait4``,
        which also gives the CPU time of the child and every descendant it reaped."""
        assert self.process is not None
        pid = self.process.pid
        give_up = _now() + INTERRUPT_GRACE_SECONDS
        while True:
            reaped, wait_status, usage = os.wait4(pid, os.WNOHANG)
            if reaped:
                break
            if _now() >= give_up:
                self.process.kill()
                _, wait_status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.01)
        status = os.waitstatus_to_exitcode(wait_status)
        self.process.returncode = status
        return status, usage.ru_utime + usage.ru_stime

    def _account_for_missing(
        self, accept: Callable[[list], None], error: str, note: str
    ) -> None:
        planned = self.planned
        missing = [
            Record(planned.strategy.name, planned.workers, planned.cpus, planned.round,
                   index, self.urls[index], error=error, message=note or error)
            for index, seen in enumerate(self.seen)
            if not seen
        ]
        if missing:
            accept([r.as_row() for r in missing] if self.as_rows else missing)


def _now() -> float:
    return time.monotonic()


# -- PSS: what the run's processes really hold, shared pages split among sharers ------------


@dataclass
class PssSchedule:
    """When the sampler reads the PSS of every member, and the largest sum read.

    A read costs ~0.5-0.8 ms of CPU per process (the kernel walks its page
    tables) against ~0.02 ms for RSS, so it is not done at every RSS sample.
    It is due at the first sample, at a new RSS peak, and at least every
    MEMBER_RESCAN_SECONDS (copy-on-write breaks raise PSS while RSS stays
    flat); but after each read, the next waits until that read's CPU time is
    at most PSS_CPU_SHARE of the time since (a 30 ms read of 50 processes:
    1.5 s; 5 ms for 8: 0.25 s). So the reads cost about PSS_CPU_SHARE of one
    core on average over a run, whatever the process count (one read is not
    bounded: the first, or one after the tree grew, costs what it costs, and a
    run shorter than the wait after it pays all of it), and a short run of a few
    processes still gets its peak read. Never when the RSS sum is at
    most the PSS peak: PSS ≤ RSS, so that read could not raise the peak.
    """

    gap: float = 0.0  # seconds the next read waits after the last one
    last: float | None = None  # monotonic time of the last read
    peak: int | None = None  # bytes

    def due(self, now: float, new_rss_peak: bool, rss_total: int) -> bool:
        """Whether to read PSS at this RSS sample."""
        if self.last is None:
            return True
        if self.peak is not None and rss_total <= self.peak:
            return False
        since = now - self.last
        if since < self.gap:
            return False
        return new_rss_peak or since >= MEMBER_RESCAN_SECONDS

    def read(self, now: float, total: int, cpu_s: float) -> None:
        """Record a read made at ``now`` that summed to ``total`` bytes and cost ``cpu_s``."""
        self.last = now
        self.gap = cpu_s / PSS_CPU_SHARE
        self.peak = total if self.peak is None else max(self.peak, total)


@functools.cache
def pss_supported() -> bool:
    """True where /proc/PID/smaps_rollup exists and can be read (Linux 4.14 and later)."""
    try:
        return read_pss(os.getpid()) is not None
    except (OSError, ValueError):  # as pss_sum: a "Pss:" line this code cannot parse
        return False


def read_pss(pid: int) -> int | None:
    """PSS of process ``pid`` in bytes, from the "Pss:" line of /proc/PID/smaps_rollup.

    None when the process has gone (or is a zombie, with no memory left);
    OSError when the file cannot be read for another reason (no /proc, no
    permission).
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb", buffering=0) as fh:
            data = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    at = data.find(b"\nPss:")
    if at < 0:
        return None
    return int(data[at + 5 : data.index(b"kB", at)]) * 1024


def pss_sum(pids: Iterable[int]) -> int | None:
    """Sum of the PSS of ``pids`` (gone ones count 0); None if one cannot be read."""
    total = 0
    for pid in pids:
        try:
            total += read_pss(pid) or 0
        except (OSError, ValueError):  # ValueError: a "Pss:" line this code cannot parse
            return None
    return total
