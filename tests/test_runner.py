"""The runner: fresh children, isolation of gevent, pinning, speed-up ratios."""

from __future__ import annotations

import os

import pytest

from fetchbench.runner import FetchOptions, Interrupted, PlannedRun, Runner, build_plan
from fetchbench.strategies import ALL, CLASSIC, EVERY, STRATEGIES
from tests.helpers import run_strategy


def test_thread_after_gevent_pool_uses_real_threads_and_plain_sockets(server, sink):
    urls = [server.url(f"/i/{i}", delay=0.01, bytes=100) for i in range(20)]
    plan = build_plan([STRATEGIES["gevent-pool"], STRATEGIES["thread"]], [4], [1])
    gevent_run, thread_run = Runner(urls, FetchOptions(), sink).run(plan)
    assert gevent_run.probe["gevent_patched"] is True
    assert gevent_run.probe["socket_class"].startswith("gevent.")
    assert thread_run.probe["gevent_patched"] is False
    assert thread_run.probe["socket_class"] == "socket.socket"
    assert thread_run.probe["native_threads"] == 4
    pids = [gevent_run.probe["pid"], thread_run.probe["pid"], os.getpid()]
    assert len(set(pids)) == 3, pids  # each run in its own fresh child, neither in this process


def test_parent_never_imports_gevent(server, sink):
    import sys

    urls = [server.url(bytes=10)]
    Runner(urls, FetchOptions(), sink).run(build_plan([STRATEGIES["gevent-spawn"]], None, [1]))
    assert "gevent" not in sys.modules or not __import__("gevent.monkey").monkey.is_module_patched(
        "socket")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to tell 1 from 2")
def test_child_is_pinned_to_the_requested_cpus(server, sink):
    urls = [server.url(bytes=10)] * 4
    metas = Runner(urls, FetchOptions(), sink).run(
        build_plan([STRATEGIES["thread"]], [2], [1, 2]))
    available = sorted(os.sched_getaffinity(0))
    assert [m.probe["affinity"] for m in metas] == [available[:1], available[:2]]
    assert [m.cpu_ids for m in metas] == [available[:1], available[:2]]


def test_latency_bound_list_is_several_times_faster_than_serial(server, sink):
    urls = [server.url(f"/slow/{i}", delay=0.1, bytes=512) for i in range(40)]
    runner = Runner(urls, FetchOptions(), sink)
    elapsed = {}
    for name, workers in [("serial", 1), ("thread", 20), ("gevent-pool", 20),
                          ("gevent-spawn", 1), ("process", 8)]:
        sink.records.clear()
        meta = runner.run_one(PlannedRun(STRATEGIES[name], workers, 1, 1))
        assert meta.complete and all(r.error == "" for r in sink.records)
        elapsed[name] = max(r.start + r.latency for r in sink.records) - min(
            r.start for r in sink.records)
    for name in ("thread", "gevent-pool", "gevent-spawn", "process"):
        assert elapsed["serial"] / elapsed[name] >= 3, (name, elapsed)


def test_plan_interleaves_rounds_after_warmup():
    a, b = STRATEGIES["serial"], STRATEGIES["thread"]
    plan = build_plan([a, b], [4], [1], repeat=2, warmup=1)
    assert [(p.strategy.name, p.round, p.warmup) for p in plan] == [
        ("serial", 0, True), ("thread", 0, True),
        ("serial", 1, False), ("thread", 1, False),
        ("serial", 2, False), ("thread", 2, False)]
    assert [p.workers for p in plan] == [1, 4, 1, 4, 1, 4]


def test_default_workers():
    assert STRATEGIES["process"].default_workers(2, 50) == 2
    assert STRATEGIES["thread"].default_workers(2, 50) == 20
    assert STRATEGIES["serial"].default_workers(2, 50) == 1
    assert STRATEGIES["gevent-spawn"].default_workers(2, 50) == 50
    assert STRATEGIES["process-gevent"].default_workers(2, 50) == 20  # a total, split per CPU
    assert set(CLASSIC) == {"serial", "process", "thread", "gevent-spawn", "gevent-pool"}
    assert set(CLASSIC) | {"process-gevent"} <= set(ALL) <= set(EVERY)
    assert "dask" not in ALL  # a cluster is not cheap to start: only in 'every'


def test_max_time_records_the_rest_as_not_run(server, sink):
    urls = [server.url(f"/m/{i}", delay=0.2, bytes=10) for i in range(30)]
    meta = run_strategy(sink, urls, "serial", workers=1, max_time=0.5)
    errors = [r.error for r in sorted(sink.records, key=lambda r: r.index)]
    assert len(errors) == 30
    # Stopped early, counted rather than timed: every fetch takes at least the
    # server's 0.2 s delay and none starts after 0.5 s, so at most 3 are fetched.
    assert errors.count("") <= 3, errors
    assert errors[0] == "" and errors[-1] == "not_run"
    assert set(errors) == {"", "not_run"}
    assert meta.complete  # every URL accounted for; the bound was the user's choice


@pytest.mark.parametrize("warmup", [True, False])
def test_ctrl_c_in_a_run_keeps_its_meta_only_when_it_is_recorded(server, sink, warmup):
    """Interrupted mid-run, a recorded round keeps what it measured; a warm-up
    round, whose records are never kept, leaves no run behind either."""
    import signal
    import threading

    urls = [server.url(f"/ctrl-c/{i}", delay=0.2, bytes=10) for i in range(30)]
    threading.Timer(1.0, signal.raise_signal, (signal.SIGINT,)).start()
    with pytest.raises(Interrupted):
        run_strategy(sink, urls, "serial", workers=1, warmup=warmup)
    if warmup:
        assert (sink.runs, sink.records) == ([], [])
    else:
        assert [m.complete for m in sink.runs] == [False]
        assert len(sink.records) == len(urls)
