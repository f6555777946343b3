"""Helpers shared by the capacity tests: synthetic summaries and the frozen sweep."""

from __future__ import annotations

from typing import Any

import pandas as pd

from fetchbench.stats import summary_from_rows
from tests.helpers import DATA

SWEEP = DATA / "capacity" / "sweep.json"
"""A real run, frozen: all strategies, --workers 1,4,16 --cpus 1,2, 24 URLs at
delay=50ms, 1 KiB each, on a 2-CPU machine (see tests/data/capacity/README.md)."""


def row(
    strategy: str,
    workers: int,
    cpus: int,
    req_per_s: float,
    p99_ms: float = 50.0,
    rnd: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """One summary row with plausible defaults for the fields a test does not care about."""
    values: dict[str, Any] = {
        "strategy": strategy,
        "workers": workers,
        "cpus": cpus,
        "round": rnd,
        "requests": 100,
        "ok": 100,
        "errors": 0,
        "req_per_s": req_per_s,
        "p50_ms": p99_ms / 2,
        "p90_ms": p99_ms * 0.8,
        "p99_ms": p99_ms,
        "mean_ms": p99_ms / 2,
        "cpu_ms_per_req": 2.0,
        "peak_rss_mib": 30.0,
        "complete": True,
        "error_counts": "",
    }
    values.update(extra)
    return values


def summary_of(*rows: dict[str, Any]) -> pd.DataFrame:
    """A summary DataFrame (as loaded from a results file) of these rows."""
    return summary_from_rows(rows)
