"""Fixtures of the pytest-benchmark suite: the embedded server and one child per strategy.

Not part of the unit tests (pyproject's ``testpaths`` is ``tests``); run with
``pytest benchmarks/``. Sizes come from environment variables so a CI job can
grow them without editing code:

- ``FETCHBENCH_BENCH_URLS`` (default 20): URLs fetched per round;
- ``FETCHBENCH_BENCH_DELAY_MS`` (default 10): server delay per URL;
- ``FETCHBENCH_BENCH_WORKERS`` (default 4): pool size of the pooled strategies;
- ``FETCHBENCH_BENCH_ROUNDS`` (default 10): timed rounds per strategy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from fetchbench.server import EmbeddedServer  # noqa: E402
from fetchbench.strategies import Strategy  # noqa: E402

CHILD = Path(__file__).with_name("strategy_child.py")
CHILD_TIMEOUT_S = 60.0


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        raise pytest.UsageError(f"{name}: not an integer") from None
    if value < 1:
        raise pytest.UsageError(f"{name}: must be at least 1")
    return value


@dataclass(frozen=True)
class BenchSize:
    """How big one benchmark round is."""

    urls: int = _env_int("FETCHBENCH_BENCH_URLS", 20)
    delay_ms: int = _env_int("FETCHBENCH_BENCH_DELAY_MS", 10)
    workers: int = _env_int("FETCHBENCH_BENCH_WORKERS", 4)
    rounds: int = _env_int("FETCHBENCH_BENCH_ROUNDS", 10)


@pytest.fixture(scope="session")
def size() -> BenchSize:
    return BenchSize()


@pytest.fixture(scope="session")
def target_urls(size: BenchSize) -> Iterator[list[str]]:
    """The URL list, served by one embedded server (its own process) for the session."""
    with EmbeddedServer() as server:
        yield [
            server.url(f"/bench/{i}", delay=size.delay_ms / 1000, bytes=1024)
            for i in range(size.urls)
        ]


class StrategyChild:
    """A child interpreter running one strategy per ``round()`` call (see strategy_child.py)."""

    def __init__(self, strategy: Strategy, workers: int, urls: list[str]) -> None:
        self.strategy = strategy
        self.urls = urls
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        job = {"strategy": strategy.name, "module": strategy.module,
               "uses_gevent": strategy.uses_gevent, "workers": workers, "timeout": 10.0,
               "urls": urls}
        self._send(json.dumps(job))
        if not self._receive().get("ready"):
            raise RuntimeError(f"{strategy.name} child did not start")

    def round(self) -> dict:
        """Fetch every URL once; the child's count of successes and errors."""
        self._send("go")
        return self._receive()

    def close(self) -> None:
        """Close stdin (the child exits), then wait; kill only if it hangs."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def _receive(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.strategy.name} child exited ({self.process.wait()})")
        return json.loads(line)
