"""The capacity tables of a sweep as text: which apply, their titles, their formatting.

``report.render`` appends these under its tables when the results hold
several worker counts or CPU counts; the HTML report uses ``sweep_tables``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from tabulate import tabulate

from fetchbench.capacity import cpu_scaling, is_cpu_sweep, is_worker_sweep, workers_pivot
from fetchbench.stats import cpu_label

WORKERS_TITLE = "Throughput (req/s) by workers, median over rounds"
CPUS_TITLE = "Throughput (req/s) across CPU counts, with scaling efficiency"


@dataclass(frozen=True)
class Table:
    """A titled table: its frame (index = row labels) and a note under it."""

    title: str
    frame: pd.DataFrame
    note: str = ""


def cell(column: str, value: object) -> str:
    """A capacity table value as text: "-" when missing, 2 decimals for ratios, else 1."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if not isinstance(value, int | float):
        return str(value)
    ratio = column.startswith(("speed-up", "efficiency"))
    return f"{float(value):.2f}" if ratio else f"{float(value):.1f}"


def sweep_tables(summary: pd.DataFrame, full: bool = True) -> list[Table]:
    """The capacity tables that apply to this summary (none for a single configuration).

    ``full`` keeps the speed-up columns of the CPU table; text output drops
    them (efficiency × CPU ratio gives them back) to stay narrow.
    """
    tables: list[Table] = []
    if is_worker_sweep(summary):
        tables.append(Table(WORKERS_TITLE, workers_pivot(summary),
                            "columns: pool size (workers); '-': not run"))
    if is_cpu_sweep(summary):
        scaling = cpu_scaling(summary)
        base = int(scaling.attrs.get("baseline_cpus", 1))
        if not full:
            scaling = scaling[[c for c in scaling.columns if not c.startswith("speed-up")]]
        per = "CPUs" if base == 1 else f"(CPUs ÷ {base})"
        note = f"efficiency = speed-up over {cpu_label(base)} ÷ {per}; 1.00 is linear scaling"
        tables.append(Table(CPUS_TITLE, scaling, note))
    return tables


def table_text(table: Table, tablefmt: str) -> str:
    """One table through tabulate (``simple`` or ``github``)."""
    frame = table.frame
    rows = [
        [str(label), *(cell(col, v) for col, v in zip(frame.columns, values, strict=True))]
        for label, values in zip(frame.index, frame.to_numpy().tolist(), strict=True)
    ]
    headers = [frame.index.name or "strategy", *frame.columns]
    align = ["left", *(["right"] * len(frame.columns))]
    return tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True,
                    colalign=align)


def sweep_sections(summary: pd.DataFrame, markdown: bool = False) -> list[str]:
    """Lines to append to the text report: a blank line, title, table, note per table."""
    lines: list[str] = []
    for table in sweep_tables(summary, full=False):
        title = f"### {table.title}" if markdown else table.title
        lines += ["", title, *([""] if markdown else [])]
        lines.append(table_text(table, "github" if markdown else "simple"))
        if table.note:
            lines += ["", f"_{table.note}_"] if markdown else [table.note]
    return lines
