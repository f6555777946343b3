"""process: a worker killed with SIGKILL costs only the URLs it held."""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil

from fetchbench.runner import ChildRun, FetchOptions, PlannedRun
from fetchbench.strategies import STRATEGIES
from fetchbench.strategies.process import chunk_size


def test_killed_worker_costs_only_its_chunk_and_run_finishes(server):
    urls = [server.url(f"/p/{i}", delay=0.05, bytes=100) for i in range(120)]
    child = ChildRun(PlannedRun(STRATEGIES["process"], 3, 1, 1), urls, FetchOptions())
    records = []
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(meta=child.run(records.extend)))
    runner.start()
    victim = None
    for _ in range(200):  # wait until the pool's worker processes exist and have work
        time.sleep(0.05)
        if child.process is not None and len(records) > 10:
            workers = psutil.Process(child.process.pid).children()
            if len(workers) == 3:
                victim = workers[0].pid
                break
    assert victim is not None, "pool workers never appeared"
    os.kill(victim, signal.SIGKILL)
    runner.join(timeout=60)
    meta = outcome["meta"]
    assert sorted(r.index for r in records) == list(range(len(urls)))
    died = [r for r in records if r.error == "worker_died"]
    assert 1 <= len(died) <= chunk_size(len(urls), 3)
    assert all(str(victim) in r.message for r in died)
    assert all(r.error in ("", "worker_died") for r in records)
    assert not meta.complete and "died" in meta.note
    leftovers = [p for p in psutil.Process(os.getpid()).children(recursive=True)
                 if "fetchbench.worker" in " ".join(p.cmdline())]
    assert not leftovers


def test_chunk_size_bounds():
    assert chunk_size(10, 4) == 1
    assert chunk_size(10_000, 4) == 8


def test_workers_dead_before_ready_leave_worker_died_records_for_every_url():
    """If no worker ever gets going, every URL is still accounted for, as worker_died."""
    from fetchbench.fetch import FetchConfig, Fetcher, RunLabel
    from fetchbench.strategies import process

    dispatcher = os.getpid()

    def make_fetcher(*, prepare: bool = False) -> Fetcher:
        if os.getpid() != dispatcher:
            os._exit(3)  # a forked worker that cannot start
        return Fetcher(FetchConfig(), RunLabel("process", 2, 1, 1, time.perf_counter()))

    urls = [f"http://127.0.0.1:9/never/{i}" for i in range(7)]
    records = []
    process.run(urls, 2, make_fetcher, records.append)
    assert sorted(r.index for r in records) == list(range(len(urls)))
    assert {r.error for r in records} == {"worker_died"}
    assert all("every worker died" in r.message and "exit 3" in r.message for r in records)


def _stuck_workers(dispatcher: int, stuck: int, ignore_sigterm: bool = False):
    """A make_fetcher whose first ``stuck`` forked workers never return (pids kept)."""
    import multiprocessing

    from fetchbench.fetch import FetchConfig, Fetcher, RunLabel

    context = multiprocessing.get_context("fork")
    started = context.Value("i", 0)
    pids = context.Array("i", stuck)

    def make_fetcher(*, prepare: bool = False) -> Fetcher:
        if os.getpid() != dispatcher:
            with started.get_lock():
                started.value += 1
                mine = started.value
            if mine <= stuck:
                pids[mine - 1] = os.getpid()
                if ignore_sigterm:
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                while True:  # stuck building its fetcher: never READY, never dies
                    time.sleep(60)
        return Fetcher(FetchConfig(), RunLabel("process", 3, 1, 1, time.perf_counter()))

    return make_fetcher, pids


def _children() -> set[int]:
    return {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}


def test_worker_stuck_before_ready_is_stopped_and_the_others_fetch_everything(
        server, monkeypatch):
    """One worker never gets ready: it is stopped (even ignoring SIGTERM), the run goes on."""
    from fetchbench.strategies import process

    monkeypatch.setattr(process, "READY_TIMEOUT", 1.0)
    make_fetcher, pids = _stuck_workers(os.getpid(), 1, ignore_sigterm=True)
    urls = [server.url(f"/stuck-one/{i}", bytes=100) for i in range(60)]
    records = []
    facts = process.run(urls, 3, make_fetcher, records.append)
    assert sorted(r.index for r in records) == list(range(len(urls)))
    assert all(r.error == "" for r in records), {r.error for r in records}
    stuck = pids[0]
    assert stuck and stuck not in _children()
    assert facts["not_ready_pids"] == [stuck]
    assert "1 worker not ready after 1 s" in facts["not_ready"]
    assert str(stuck) in facts["not_ready"] and "went on with 2 of 3" in facts["not_ready"]


def test_every_worker_stuck_before_ready_leaves_worker_died_records(monkeypatch):
    """No worker ever gets ready: the run still ends, one worker_died record per URL."""
    from fetchbench.strategies import process

    monkeypatch.setattr(process, "READY_TIMEOUT", 1.0)
    make_fetcher, pids = _stuck_workers(os.getpid(), 3)
    urls = [f"http://127.0.0.1:9/never/{i}" for i in range(7)]
    records = []
    facts = process.run(urls, 3, make_fetcher, records.append)
    assert sorted(r.index for r in records) == list(range(len(urls)))
    assert {r.error for r in records} == {"worker_died"}
    assert all("every worker died (3 workers not ready after 1 s)" in r.message
               for r in records)
    assert sorted(facts["not_ready_pids"]) == sorted(pids[:])
    assert "went on with 0 of 3" in facts["not_ready"]
    assert not set(pids[:]) & _children()
