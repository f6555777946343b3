"""Summary → text (table, markdown, CSV, JSON); reads a summary, never re-measures.

Columns, headers and number formats come from ``stats.SUMMARY_FIELDS``.
The table and markdown formats show the default-table columns, one row per
run; the "round" column is added only when some configuration
(strategy, workers, cpus) has several rounds, and then a second table
(``stats.ROUND_FIELDS``) gives per configuration the medians over its rounds
and the req/s min and max. The throughput pivot under the tables takes the
median over rounds. CSV and JSON carry every summary field at
full precision (NaN as an empty cell / null), for machines.
"""

from __future__ import annotations

import json

import pandas as pd
from tabulate import tabulate

from fetchbench.capacity_tables import Table, sweep_sections, table_text
from fetchbench.errors import UsageError
from fetchbench.options import FORMATS
from fetchbench.stats import (
    ROUND_FIELDS,
    SUMMARY_COLUMNS,
    SUMMARY_FIELDS,
    SummaryField,
    round_summary,
    summary_rows,
    throughput_pivot,
)

PIVOT_TITLE = "Throughput (req/s) by CPU count"
ROUNDS_TITLE = "Medians over rounds, with the req/s range (requests and errors: totals)"


def has_rounds(summary: pd.DataFrame) -> bool:
    """True when some (strategy, workers, cpus) was run for several rounds."""
    if summary.empty:
        return False
    sizes = summary.groupby(["strategy", "workers", "cpus"], sort=False).size()
    return bool((sizes > 1).any())


def table_fields(summary: pd.DataFrame) -> list[SummaryField]:
    """The fields of the default table for this summary."""
    rounds = has_rounds(summary)
    return [f for f in SUMMARY_FIELDS if f.in_table and (rounds or not f.only_if_rounds)]


INCOMPLETE_NOTE = (
    "* incomplete run: its figures cover only what finished (interrupted, a worker died\n"
    "  or was not ready, or the strategy failed: the run's note in the results says which)"
)


def _summary_table(summary: pd.DataFrame, tablefmt: str) -> str:
    """The default-table columns of the summary, formatted by their fields;
    an incomplete run's strategy is starred, with a note under the table."""
    cols = table_fields(summary)
    records = summary.to_dict("records")
    rows = [[f.format(row[f.name]) for f in cols] for row in records]
    incomplete = [row.get("complete") is False for row in records]
    for row, starred in zip(rows, incomplete, strict=True):
        if starred:
            row[0] += " *"
    align = ["left" if f.kind == "str" else "right" for f in cols]
    table = tabulate(
        rows,
        headers=[f.header for f in cols],
        tablefmt=tablefmt,
        disable_numparse=True,
        colalign=align,
    )
    return table + ("\n" + INCOMPLETE_NOTE if any(incomplete) else "")


def _rounds_sections(summary: pd.DataFrame, markdown: bool = False) -> list[str]:
    """Medians over rounds per (strategy, workers, cpus), only when some run has several."""
    if not has_rounds(summary):
        return []
    cols = [f for f in ROUND_FIELDS if f.in_table]
    rows = [[f.format(row[f.name]) for f in cols] for row in round_summary(summary).to_dict("records")]
    table = tabulate(
        rows,
        headers=[f.header for f in cols],
        tablefmt="github" if markdown else "simple",
        disable_numparse=True,
        colalign=["left" if f.kind == "str" else "right" for f in cols],
    )
    title = f"### {ROUNDS_TITLE}" if markdown else ROUNDS_TITLE
    return ["", title, *([""] if markdown else []), table]


def _pivot_table(summary: pd.DataFrame, tablefmt: str) -> str:
    """The req/s pivot (strategies × CPU counts) as a table."""
    return table_text(Table(PIVOT_TITLE, throughput_pivot(summary)), tablefmt)


def render(summary: pd.DataFrame, fmt: str) -> str:
    """The summary as text in ``fmt`` (one of ``FORMATS``), ending with a newline."""
    if fmt == "table":
        parts = [
            _summary_table(summary, "simple"),
            *_rounds_sections(summary),
            "",
            PIVOT_TITLE,
            _pivot_table(summary, "simple"),
            *sweep_sections(summary),
        ]
        return "\n".join(parts) + "\n"
    if fmt == "markdown":
        parts = [
            _summary_table(summary, "github"),
            *_rounds_sections(summary, markdown=True),
            "",
            f"### {PIVOT_TITLE}",
            "",
            _pivot_table(summary, "github"),
            *sweep_sections(summary, markdown=True),
        ]
        return "\n".join(parts) + "\n"
    if fmt == "csv":
        return summary.reindex(columns=list(SUMMARY_COLUMNS)).to_csv(
            index=False, lineterminator="\n"
        )
    if fmt == "json":
        return json.dumps(summary_rows(summary), indent=2, allow_nan=False) + "\n"
    raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
