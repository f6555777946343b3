"""A CompareResult as text: a terminal table, GitHub markdown, or JSON.

The markdown is meant for a CI job summary (``>> $GITHUB_STEP_SUMMARY``) or a
pull-request comment: a status heading, the table, then notes and warnings.
The table is for a terminal, where warnings are already on stderr; the markdown
and JSON carry them, so a saved report explains itself.
"""

from __future__ import annotations

import json
import math
from typing import Any

from tabulate import tabulate

from fetchbench.compare import (
    COMPARE_FORMATS,
    SLOWER,
    CompareResult,
    Comparison,
    Side,
    run_label,
)
from fetchbench.errors import UsageError

_HEADERS = ["strategy", "workers", "cpus", "metric", "base", "current", "change", "verdict",
            "p", "rounds"]
_ALIGN = ["left", "right", "right", "left", "right", "right", "right", "left", "right", "right"]


def render_compare(result: CompareResult, fmt: str) -> str:
    """The comparison in ``fmt`` (one of ``COMPARE_FORMATS``), ending with a newline."""
    if fmt == "table":
        return _table(result)
    if fmt == "markdown":
        return _markdown(result)
    if fmt == "json":
        return json.dumps(as_json(result), indent=2, allow_nan=False) + "\n"
    raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(COMPARE_FORMATS)}")


def status_line(result: CompareResult) -> str:
    """One line: the regressions that count, or that there are none."""
    regressions = result.regressions
    if not regressions:
        return "no regression"
    listed = "; ".join(
        f"{r.metric.name} of {r.run} {_change(r.change_pct)}" for r in regressions[:3]
    )
    more = f"; and {len(regressions) - 3} more" if len(regressions) > 3 else ""
    return f"{_plural(len(regressions), 'regression')}: {listed}{more}"


def _settings_line(result: CompareResult) -> str:
    s = result.settings
    failing = ", ".join(s.failing) if s.failing else "none"
    return (
        f"judged: {', '.join(s.metrics)} · fail on: {failing} · threshold {s.threshold:g}% · "
        f"Mann-Whitney U (two-sided) alpha {s.alpha:g} when both sides have 3+ rounds"
    )


def _cells(row: Comparison, counts: bool) -> list[str]:
    verdict = row.verdict
    if counts:
        verdict = f"**{verdict}**" if verdict == SLOWER else verdict
    return [
        row.key[0],
        str(row.key[1]),
        str(row.key[2]),
        row.metric.label,
        row.metric.format(row.base),
        row.metric.format(row.current),
        _change(row.change_pct),
        verdict,
        "-" if row.p_value is None else f"{row.p_value:.3f}",
        f"{row.base_rounds}/{row.current_rounds}",
    ]


def _table(result: CompareResult) -> str:
    rows = [_cells(r, counts=False) for r in result.rows]
    parts = [
        f"base:    {result.base.describe()}",
        f"current: {result.current.describe()}",
        _settings_line(result),
        "",
        tabulate(rows, headers=_HEADERS, tablefmt="simple", disable_numparse=True,
                 colalign=_ALIGN),
        "",
    ]
    parts += [f"only in base: {run_label(k)}" for k in result.only_base]
    parts += [f"only in current: {run_label(k)}" for k in result.only_current]
    parts += [f"note: {n}" for n in result.notes]  # warnings go to stderr (compare_cli)
    parts.append(f"result: {status_line(result)}")
    return "\n".join(parts) + "\n"


def _markdown(result: CompareResult) -> str:
    count = len(result.regressions)
    heading = (
        f"### fetchbench: {_plural(count, 'regression')} :x:" if count
        else "### fetchbench: no regression :white_check_mark:"
    )
    failing = set(result.settings.failing)
    rows = [_cells(r, counts=r.metric.name in failing) for r in result.rows]
    parts = [
        heading,
        "",
        f"Base `{_md(result.base.describe())}` → current `{_md(result.current.describe())}`  ",
        f"_{_settings_line(result)}_",
        "",
        tabulate(rows, headers=_HEADERS, tablefmt="github", disable_numparse=True,
                 colalign=_ALIGN),
    ]
    extra = [f"- only in base: `{run_label(k)}`" for k in result.only_base]
    extra += [f"- only in current: `{run_label(k)}`" for k in result.only_current]
    extra += [f"- note: {n}" for n in result.notes]
    if extra:
        parts += ["", *extra]
    if result.warnings:
        parts += ["", *(f"> :warning: {w}" for w in result.warnings)]
    if count:
        parts += ["", f"**{status_line(result)}**"]
    return "\n".join(parts) + "\n"


def as_json(result: CompareResult) -> dict[str, Any]:
    """The comparison as a JSON-ready dict (NaN/inf as null)."""
    s = result.settings
    counting = {id(r) for r in result.regressions}
    return {
        "base": _side(result.base),
        "current": _side(result.current),
        "settings": {
            "metrics": list(s.metrics),
            "fail_on": list(s.failing),
            "threshold_pct": s.threshold,
            "alpha": s.alpha,
        },
        "regression": bool(result.regressions),
        "exit_status": result.exit_status,
        "comparisons": [
            {
                "strategy": r.key[0],
                "workers": r.key[1],
                "cpus": r.key[2],
                "metric": r.metric.name,
                "unit": r.metric.unit,
                "bigger_is_better": r.metric.bigger_is_better,
                "base": _num(r.base),
                "current": _num(r.current),
                "change_pct": _num(r.change_pct),
                "verdict": r.verdict,
                "counts": id(r) in counting,
                "p_value": _num(r.p_value),
                "tested": r.tested,
                "base_rounds": r.base_rounds,
                "current_rounds": r.current_rounds,
            }
            for r in result.rows
        ],
        "only_in_base": [list(k) for k in result.only_base],
        "only_in_current": [list(k) for k in result.only_current],
        "notes": list(result.notes),
        "warnings": list(result.warnings),
    }


def _side(side: Side) -> dict[str, Any]:
    machine = side.meta.get("machine") or {}
    return {
        "label": side.label,
        "created": side.meta.get("created"),
        "host": machine.get("host"),
        "git_commit": machine.get("git_commit"),
    }


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _change(pct: float | None) -> str:
    if pct is None:
        return "-"
    if math.isinf(pct):
        return "+inf%" if pct > 0 else "-inf%"
    return f"{pct:+.1f}%"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _md(text: str) -> str:
    return text.replace("`", "'")
