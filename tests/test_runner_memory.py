"""The runner's memory figures: peak RSS sum and peak PSS sum of a run's processes.

The integration tests run real children against the embedded server and read
the real /proc; only the pure scheduling logic is tested with made-up numbers.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fetchbench import runner
from fetchbench.runner import (
    MEMBER_RESCAN_SECONDS,
    PSS_CPU_SHARE,
    PssSchedule,
    pss_sum,
    pss_supported,
    read_pss,
)
from tests.helpers import run_strategy

needs_pss = pytest.mark.skipif(not pss_supported(), reason="no readable /proc/PID/smaps_rollup")


def slow_urls(server, count: int = 48) -> list[str]:
    return [server.url(f"/m/{i}", delay=0.05, bytes=1024) for i in range(count)]


@needs_pss
def test_forked_workers_share_pages_so_pss_is_well_below_rss(server, sink):
    meta = run_strategy(sink, slow_urls(server), "process", workers=8)
    assert meta.complete
    assert meta.peak_pss_mib is not None and meta.peak_pss_mib > 0
    # 9 processes, each with the child's interpreter and heap in its RSS: far from 9 copies
    assert meta.peak_pss_mib < 0.8 * meta.peak_rss_mib, (meta.peak_pss_mib, meta.peak_rss_mib)


@needs_pss
def test_one_process_has_pss_at_most_rss(server, sink):
    meta = run_strategy(sink, slow_urls(server, 16), "thread", workers=8)
    assert meta.peak_pss_mib is not None
    assert 0 < meta.peak_pss_mib <= meta.peak_rss_mib


def test_without_smaps_rollup_pss_is_missing_not_an_error(server, sink, monkeypatch):
    monkeypatch.setattr(runner, "pss_supported", lambda: False)
    meta = run_strategy(sink, slow_urls(server, 8), "thread", workers=4)
    assert meta.complete and meta.peak_rss_mib > 0
    assert meta.peak_pss_mib is None


def test_unreadable_member_makes_pss_missing(server, sink, monkeypatch):
    def denied(pid: int) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runner, "pss_supported", lambda: True)
    monkeypatch.setattr(runner, "read_pss", denied)
    meta = run_strategy(sink, slow_urls(server, 8), "thread", workers=4)
    assert meta.complete and meta.peak_rss_mib > 0
    assert meta.peak_pss_mib is None  # a sum missing a member would understate


@needs_pss
def test_read_pss_of_a_live_a_gone_and_a_zombie_process():
    assert 0 < read_pss(os.getpid()) < 2**40
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    pid = child.pid
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # wait until it exits, leave it unreaped
    assert read_pss(pid) is None  # a zombie holds no memory
    child.wait()
    assert read_pss(pid) is None  # gone
    assert pss_sum([os.getpid(), pid]) == pytest.approx(read_pss(os.getpid()), rel=0.1)


# -- the schedule: pure logic --------------------------------------------------------


def test_schedule_reads_at_the_first_sample_then_on_peaks_within_the_budget():
    s = PssSchedule()
    assert s.due(0.05, new_rss_peak=False, rss_total=100)  # first sample: always
    s.read(0.05, 60, cpu_s=0.001)
    gap = 0.001 / PSS_CPU_SHARE
    assert not s.due(0.05 + gap / 2, new_rss_peak=True, rss_total=200)  # too soon after a read
    assert s.due(0.05 + gap, new_rss_peak=True, rss_total=200)  # a new RSS peak, gap passed
    assert not s.due(0.05 + gap, new_rss_peak=False, rss_total=200)  # no peak, not yet periodic
    assert s.due(0.05 + MEMBER_RESCAN_SECONDS, new_rss_peak=False, rss_total=200)  # periodic


def test_schedule_gap_grows_with_the_cost_of_a_read():
    s = PssSchedule()
    s.read(0.0, 300, cpu_s=0.03)  # 50 processes: ~30 ms
    assert s.gap == pytest.approx(0.03 / PSS_CPU_SHARE)
    assert s.gap > MEMBER_RESCAN_SECONDS
    assert not s.due(MEMBER_RESCAN_SECONDS, new_rss_peak=True, rss_total=10_000)
    assert s.due(s.gap, new_rss_peak=False, rss_total=10_000)


def test_schedule_skips_reads_that_cannot_raise_the_peak_and_keeps_the_max():
    s = PssSchedule()
    s.read(0.0, 500, cpu_s=0.0)
    assert not s.due(5.0, new_rss_peak=False, rss_total=500)  # PSS ≤ RSS ≤ peak already
    s.read(5.0, 300, cpu_s=0.0)
    assert s.peak == 500
    s.read(6.0, 800, cpu_s=0.0)
    assert s.peak == 800
