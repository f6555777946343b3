"""One request's measurement: the narrow record every strategy emits.

A record is the only thing that crosses from a worker to the parent, so
every export (CSV, DataFrame, summaries) is driven by ``RECORD_FIELDS``.
Times are seconds; ``start`` is relative to the start of the strategy run
(CLOCK_MONOTONIC, shared by every process on the machine).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields

# Error classes a record may carry ("" means success).
ERROR_CLASSES: tuple[str, ...] = (
    "timeout",
    "connect",
    "dns",
    "reset",
    "truncated",
    "too_many_redirects",
    "http_4xx",
    "http_5xx",
    "too_large",
    "worker_died",
    "not_run",
    "other",
)


@dataclass(slots=True)
class Record:
    """The outcome of one GET of one URL in one round of one run."""

    strategy: str
    workers: int
    cpus: int
    round: int
    index: int
    url: str
    status: int = 0
    bytes: int = 0
    start: float = 0.0
    ttfb: float = 0.0
    latency: float = 0.0
    error: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the request succeeded (no error class)."""
        return not self.error

    def as_row(self) -> tuple:
        """The record's values in ``RECORD_FIELDS`` order (attrgetter: no deep copy)."""
        return ROW(self)


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Record))
ROW = operator.attrgetter(*RECORD_FIELDS)  # record → row tuple, built in C


@dataclass(slots=True)
class RunMeta:
    """What the runner knows about one strategy run apart from its records.

    ``wall_s`` spans the whole strategy call in the child, pool or process
    start-up included; the makespan is computed from the records instead.
    """

    strategy: str
    workers: int
    cpus: int
    round: int
    wall_s: float = 0.0
    cpu_s: float = 0.0  # user + system of the child and all its descendants
    peak_rss_mib: float = 0.0  # peak resident memory (RSS sum), child + descendants
    peak_pss_mib: float | None = None  # peak PSS sum (shared pages split); None: not read
    complete: bool = True  # False when interrupted, timed out or a worker died
    note: str = ""  # one line for the user, e.g. "2 URLs lost to a dead worker"
    cpu_ids: list[int] = field(default_factory=list)  # CPUs the child was pinned to
    probe: dict = field(default_factory=dict)  # what the child saw of itself (isolation)
