"""The whole pipeline under Ctrl-C: children stop, finished work is saved, exit 130."""

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
from pathlib import Path

import pytest


def processes_with_marker(marker: str) -> list[int]:
    """PIDs of live processes whose environment carries ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def serial_rows(out: Path) -> int:
    """Records of the serial run the parent has written so far."""
    partial = list(out.glob("*.csv.partial"))
    return sum(line.startswith("serial,") for line in partial[0].read_text().splitlines()) \
        if partial else 0


@pytest.mark.timeout(90)
@pytest.mark.parametrize("target", ["group", "parent", "group-sigterm"])
def test_ctrl_c_saves_finished_runs_and_leaves_nothing_running(tmp_path, target):
    marker = f"FETCHBENCH_TEST_MARK={uuid.uuid4().hex}"
    env = dict(os.environ, FETCHBENCH_TEST_MARK=marker.split("=", 1)[1])
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchbench", "--strategy", "thread,serial", "--urls", "60",
         "--delay", "100ms", "--size", "1KiB", "--cpus", "1", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()
    seen = []
    while not any(line.startswith("fetchbench: thread") for line in seen):
        seen.append(lines.get(timeout=60))
    deadline = time.monotonic() + 30
    while serial_rows(out) < 3 and time.monotonic() < deadline:  # part-way through its 6 s,
        time.sleep(0.05)  # however long its child took to start on a loaded machine
    if target == "group":  # what a terminal's Ctrl-C does
        os.killpg(proc.pid, signal.SIGINT)
    elif target == "group-sigterm":  # what a CI runner cancelling the job does
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    time.sleep(0.2)
    while True:
        try:
            seen.append(lines.get(timeout=1))
        except queue.Empty:
            break
    stderr = "".join(seen)
    assert "Traceback" not in stderr
    last = seen[-1].strip()
    assert last.startswith("fetchbench: interrupted during serial"), stderr
    saved = json.loads(next(out.glob("*.json")).read_text())
    assert saved["complete"] is False
    assert saved["interrupted_at"].startswith("serial")
    assert [(r["strategy"], r["complete"]) for r in saved["runs"]] == [
        ("thread", True), ("serial", False)]
    cut = saved["runs"][1]  # the child stopped in order: its own wall time and probe came back
    assert cut["wall_s"] >= cut["summary"]["makespan_s"] > 0
    assert cut["probe"]["pid"] > 0
    rows = next(out.glob("*.csv")).read_text().splitlines()[1:]
    serial = [r for r in rows if r.startswith("serial,")]
    assert len(rows) == 120 and len(serial) == 60
    finished = [r for r in serial if ",not_run," not in r]
    assert 3 <= len(finished) < 60  # what finished before Ctrl-C is kept
    assert processes_with_marker(marker) == []
