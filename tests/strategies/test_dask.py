"""dask: a LocalCluster by default, a real command-line cluster by address; client-clock times."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")

import fetchbench  # noqa: E402
from fetchbench.dask_chunk import ChunkResult, split_host  # noqa: E402
from fetchbench.record import Record  # noqa: E402
from fetchbench.strategies.dask_distributed import _Dispatch, plan_chunks  # noqa: E402
from tests.helpers import run_strategy  # noqa: E402

START_SECONDS = 30.0


def check_run(meta, sink, urls, expected) -> None:
    """One record per URL with the expected (error, bytes), host-tagged, on the client clock."""
    assert meta.complete, meta.note
    assert sorted(r.index for r in sink.records) == list(range(len(urls)))
    for record in sink.records:
        assert (record.strategy, record.url) == ("dask", urls[record.index])
        assert (record.error, record.bytes) == expected[record.index], record.message
        assert split_host(record.message)[0] == socket.gethostname()
        assert record.start >= 0 and record.start + record.latency <= meta.wall_s
    assert meta.probe["dask"]["records_per_host"] == {socket.gethostname(): len(urls)}


@pytest.mark.timeout(90)
def test_local_cluster_one_record_per_url_with_exact_bytes(server, sink):
    sizes = [0, 1, 1000, 70_000, 300_000, 17] * 4
    urls = [server.url(f"/d/{i}", bytes=size) for i, size in enumerate(sizes)]
    urls += [server.url("/gone", status=404, bytes=5), "http://fetchbench-test.invalid/"]
    meta = run_strategy(sink, urls, "dask", timeout=2)
    check_run(meta, sink, urls, [("", size) for size in sizes] + [("http_4xx", 5), ("dns", 0)])
    assert all(split_host(r.message)[1] == "" for r in sink.records if r.ok)
    assert meta.probe["dask"]["scheduler"] == "LocalCluster"
    assert len(meta.probe["dask"]["workers"]) == 1  # one worker per CPU of the run


@pytest.fixture
def cli_cluster(tmp_path) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, always stopped."""
    scheduler_file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    logs = (tmp_path / "dask.log").open("w")
    started: list[subprocess.Popen] = []
    here = str(Path(fetchbench.__file__).resolve().parent.parent)  # workers run this fetchbench
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (here, os.environ.get("PYTHONPATH", "")) if p)}

    def start(*args: str) -> None:
        started.append(subprocess.Popen([*dask, *args], cwd=tmp_path, stdout=logs, env=env,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(scheduler_file))
        address = _wait_for_address(scheduler_file, started[0])
        for n in range(2):
            start("worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                  "--no-dashboard", "--name", f"fetchbench-test-{n}",
                  "--local-directory", str(tmp_path), "--death-timeout", "30")
        _wait_for_workers(address, 2)
        yield address
    finally:
        for proc in reversed(started):  # workers first, while their scheduler is up
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logs.close()


def _wait_for_address(path, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert proc.poll() is None, "dask scheduler exited"
        try:
            return json.loads(path.read_text())["address"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise TimeoutError("dask scheduler did not start")


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=START_SECONDS) as client:
        client.wait_for_workers(count, timeout=START_SECONDS)


@pytest.mark.timeout(120)
def test_command_line_cluster_by_address(server, sink, cli_cluster):
    sizes = [100 + 7 * i for i in range(48)]
    urls = [server.url(f"/c/{i}", delay=0.02, bytes=size) for i, size in enumerate(sizes)]
    meta = run_strategy(sink, urls, "dask", workers=4, scheduler=cli_cluster)
    check_run(meta, sink, urls, [("", size) for size in sizes])
    dask = meta.probe["dask"]
    assert dask["scheduler"] == cli_cluster
    assert len(dask["workers"]) == 2 and dask["task_slots"] == 2
    assert dask["threads_per_task"] == 2  # 4 workers over 2 task slots


def test_task_times_land_on_the_client_clock():
    """A worker's clock is never read: starts are shifted by where the task began here."""
    emitted: list[Record] = []
    dispatch = _Dispatch(None, [], None, 1, 100.0, emitted.append, None)
    rows = [Record("dask", 4, 1, 1, i, f"u{i}", 200, 10, 0.5 * i, 0.1, 0.2, "", "@h").as_row()
            for i in range(3)]
    worker_clock_result = ChunkResult(rows, elapsed=1.2, host="h", worker="tcp://w")
    dispatch._accept(worker_clock_result, began=103.0)
    assert [r.start for r in emitted] == [3.0, 3.5, 4.0]
    assert dispatch.hosts == {"h": 3}


def test_chunks_bound_concurrency_and_balance():
    assert plan_chunks(2000, 20, 2) == (10, 250)
    assert plan_chunks(16, 4, 1) == (4, 4)
    assert plan_chunks(10, 1, 8) == (1, 1)
    assert plan_chunks(10**6, 20, 4)[1] == 1000
