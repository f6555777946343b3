"""Shared fixtures: a real embedded server on 127.0.0.1, port 0, and a sink."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from fetchbench.record import Record, RunMeta
from fetchbench.server import EmbeddedServer


@pytest.fixture(scope="session")
def server() -> Iterator[EmbeddedServer]:
    """One embedded server (its own process) for the whole test session."""
    with EmbeddedServer() as running:
        yield running


@dataclass
class CollectingSink:
    """A results sink that keeps everything in memory, for assertions."""

    records: list[Record] = field(default_factory=list)
    runs: list[RunMeta] = field(default_factory=list)

    def add_records(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    def add_run(self, meta: RunMeta) -> None:
        self.runs.append(meta)

    def save(self, complete: bool, interrupted_at: str | None = None) -> None:
        """Nothing to save: everything is in memory."""


@pytest.fixture
def sink() -> CollectingSink:
    return CollectingSink()
