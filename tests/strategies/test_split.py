"""process-gevent / process-asyncio: one fresh child per CPU, records merged back as one run."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from fetchbench.strategies.split import plan_slices
from tests.helpers import run_strategy
from tests.test_benchmark import processes_with_marker


def test_slices_deal_urls_round_robin_and_split_workers():
    slices = plan_slices(10, 5, [3, 7])
    assert [s.cpu for s in slices] == [3, 7]
    assert [s.indices for s in slices] == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]
    assert [s.workers for s in slices] == [3, 2]
    assert len(plan_slices(10, 1, [0, 1, 2])) == 1  # never more children than workers
    assert len(plan_slices(2, 20, [0, 1, 2])) == 2  # … or URLs
    assert plan_slices(0, 20, [0, 1])[0].indices == []


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_one_patched_child_per_cpu_and_one_record_per_url(server, sink):
    urls = [server.url(f"/pg/{i}", bytes=100 + i) for i in range(40)]
    meta = run_strategy(sink, urls, "process-gevent", workers=8, cpus=2)
    assert meta.complete, meta.note
    assert meta.probe["gevent_patched"] is False  # the parent of the children is never patched
    children = meta.probe["children"]
    assert sorted(c["affinity"][0] for c in children) == sorted(os.sched_getaffinity(0))[:2]
    assert all(len(c["affinity"]) == 1 and c["gevent_patched"] for c in children)
    assert [c["workers"] for c in children] == [4, 4]
    assert len({c["pid"] for c in children} | {meta.probe["pid"]}) == 3
    assert sorted(r.index for r in sink.records) == list(range(len(urls)))
    for record in sink.records:
        assert (record.strategy, record.workers, record.cpus) == ("process-gevent", 8, 2)
        assert record.url == urls[record.index] and record.bytes == 100 + record.index
        assert 0 <= record.start < meta.wall_s


@pytest.mark.timeout(60)
def test_ctrl_c_stops_every_child_and_keeps_what_finished(tmp_path):
    marker = uuid.uuid4().hex
    env = dict(os.environ, FETCHBENCH_TEST_MARK=marker)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchbench", "--strategy", "process-gevent", "--workers", "2",
         "--urls", "60", "--delay", "100ms", "--size", "1KiB", "--cpus", "1", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()
    def fetched() -> int:  # data rows the parent has written so far
        partial = list(out.glob("*.csv.partial"))
        return len(partial[0].read_text().splitlines()) - 1 if partial else 0

    deadline = time.monotonic() + 30
    while fetched() < 3 and time.monotonic() < deadline:  # part-way through its 3 s,
        time.sleep(0.05)  # however long the children took to start on a loaded machine
    os.kill(proc.pid, signal.SIGINT)  # the parent only: it must pass the stop on
    assert proc.wait(timeout=30) == 130
    saved = json.loads(next(out.glob("*.json")).read_text())
    assert [(r["strategy"], r["complete"]) for r in saved["runs"]] == [("process-gevent", False)]
    rows = next(out.glob("*.csv")).read_text().splitlines()[1:]
    finished = [r for r in rows if ",not_run," not in r]
    assert len(rows) == 60 and 3 <= len(finished) < 60
    time.sleep(0.2)
    assert processes_with_marker(marker) == []
