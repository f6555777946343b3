"""Assertions several test modules share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fetchbench.frames import decode, read_payloads
from fetchbench.record import RunMeta
from fetchbench.runner import FetchOptions, PlannedRun, Runner
from fetchbench.strategies import STRATEGIES

DATA = Path(__file__).parent / "data"
"""tests/data: the frozen results and sweeps the tests read."""


def run_strategy(sink, urls, name: str, workers: int = 4, cpus: int = 1, *,
                 warmup: bool = False, **options) -> RunMeta:
    """One run of strategy ``name`` in its own child, records into ``sink``:
    round 1, or with ``warmup`` the unrecorded warm-up round 0."""
    planned = PlannedRun(STRATEGIES[name], workers, cpus, 0 if warmup else 1, warmup=warmup)
    return Runner(urls, FetchOptions(**options), sink).run_one(planned)


def read_messages(stream) -> list[dict]:
    """Every frame on ``stream``, decoded."""
    return [decode(payload) for payload in read_payloads(stream)]


def run_python(script: str) -> subprocess.CompletedProcess[str]:
    """``script`` run by a fresh interpreter (60 s at most), its output captured as text."""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)


def assert_one_line_exit_2(status: int, err: str, *fragments: str) -> None:
    """A usage or input error: exit status 2 and exactly one stderr line holding ``fragments``."""
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0]
