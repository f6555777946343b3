"""Exports for other CI tools, written atomically from a summary.

github-action-benchmark reads a JSON list ``[{"name", "unit", "value",
"range", "extra"}]``, and one file is either ``customBiggerIsBetter`` or
``customSmallerIsBetter``, so there are two kinds:

- ``gha-benchmark``: throughput, req/s (``tool: customBiggerIsBetter``);
- ``gha-benchmark-latency``: p50 and p99 latency, ms
  (``tool: customSmallerIsBetter``).

One entry per (strategy, workers, cpus) and metric; the value is the median
over rounds, ``range`` is "± half the min–max spread" when there are
several rounds, and ``extra`` (the chart tooltip) gives rounds, min, max and
the machine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fetchbench.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

EXPORT_KINDS: dict[str, str] = {
    "gha-benchmark": "throughput req/s, for github-action-benchmark tool: customBiggerIsBetter",
    "gha-benchmark-latency": "p50/p99 ms, for github-action-benchmark tool: customSmallerIsBetter",
}
# kind → (summary column, metric name, unit)
_SERIES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "gha-benchmark": (("req_per_s", "throughput", "req/s"),),
    "gha-benchmark-latency": (("p50_ms", "p50", "ms"), ("p99_ms", "p99", "ms")),
}


def check_export(kind: str, path: str) -> tuple[str, str]:
    """A validated ``--export KIND FILE`` pair (UsageError before anything is measured)."""
    if kind not in EXPORT_KINDS:
        raise UsageError(f"--export: unknown kind '{kind}' (known: {', '.join(EXPORT_KINDS)})")
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--export: {path} is a directory; give a file name")
    blocker = next((p for p in target.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise UsageError(f"--export: {blocker} is not a directory")
    return kind, path


def gha_entries(summary: pd.DataFrame, kind: str, meta: dict[str, Any] | None = None
                ) -> list[dict[str, Any]]:
    """The github-action-benchmark entries of one export kind (medians over rounds)."""
    from fetchbench.stats import round_summary

    machine = (meta or {}).get("machine") or {}
    where = ", ".join(f"{k} {machine[k]}" for k in ("host", "python") if machine.get(k))
    entries = []
    for row in round_summary(summary).to_dict("records"):
        run = f"{row['strategy']} workers={row['workers']} cpus={row['cpus']}"
        per_round = summary[
            (summary["strategy"] == row["strategy"])
            & (summary["workers"] == row["workers"])
            & (summary["cpus"] == row["cpus"])
        ]
        for column, metric, unit in _SERIES[kind]:
            values = per_round[column].dropna()
            if values.empty:
                continue  # nothing succeeded: no value to chart
            low, high = float(values.min()), float(values.max())
            entry: dict[str, Any] = {
                "name": f"{run} {metric}",
                "unit": unit,
                "value": round(float(values.median()), 3),
            }
            if len(values) > 1:
                entry["range"] = f"± {(high - low) / 2:.3g}"
            extra = f"median of {len(values)} round(s); min {low:.4g}, max {high:.4g}"
            entry["extra"] = extra + (f"; {where}" if where else "")
            entries.append(entry)
    return entries


def write_exports(
    exports: Sequence[tuple[str, str]], summary: pd.DataFrame, meta: dict[str, Any] | None = None
) -> None:
    """Write every requested export atomically, creating its directory
    (UsageError, one line, if a file cannot be written)."""
    from fetchbench.results import atomic_write_text

    for kind, path in exports:
        text = json.dumps(gha_entries(summary, kind, meta), indent=2, allow_nan=False,
                          ensure_ascii=False)
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text + "\n")
        except OSError as exc:
            raise UsageError(f"--export: cannot write {path}: {exc.strerror or exc}") from None
