"""``fetchbench report``: one self-contained HTML page of a saved run.

In order: the machine and run, a plan (when asked for), throughput by CPU
count and the capacity tables of a sweep, the plots as base64 PNGs in
``<img>`` data URLs, cost per configuration, and the per-run summary.
No script, no external file; every text is escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from fetchbench.capacity import configurations
from fetchbench.capacity_tables import Table, cell, sweep_tables
from fetchbench.report import PIVOT_TITLE, table_fields
from fetchbench.stats import FIELDS_BY_NAME, throughput_pivot

if TYPE_CHECKING:
    from fetchbench.plan import Plan
    from fetchbench.results import Results

COST_TITLE = "Cost per configuration (medians over rounds)"
COST_FIELDS: tuple[str, ...] = (
    "req_per_s", "cpu_ms_per_req", "peak_rss_mib", "peak_pss_mib", "mib_per_worker",
    "ideal_req_per_s", "efficiency",
)

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 9px; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note, figcaption { color: #555; font-size: 12px; }
figure { margin: 1.5em 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 1em; }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
.warning { color: #a40; }
"""


def esc(value: object) -> str:
    """Text escaped for HTML content and attribute values."""
    return html.escape(str(value), quote=True)


def html_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool], css: str
) -> str:
    """A ``<table>`` of already-formatted text cells (escaped here)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "\n".join(
        "<tr>" + "".join(
            f'<td class="num">{esc(c)}</td>' if num else f"<td>{esc(c)}</td>"
            for c, num in zip(row, numeric, strict=True)
        ) + "</tr>"
        for row in rows
    )
    return (f'<table class="{esc(css)}">\n<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{body}\n</tbody>\n</table>")


def _summary_section(summary: pd.DataFrame) -> str:
    fields = table_fields(summary)
    rows = [[f.format(row[f.name]) for f in fields] for row in summary.to_dict("records")]
    table = html_table([f.header for f in fields], rows, [f.kind != "str" for f in fields],
                       "summary")
    return f"<h2>Summary (one row per run)</h2>\n{table}"


def _frame_section(table: Table, css: str) -> str:
    frame = table.frame
    rows = [
        [str(label), *(cell(col, v) for col, v in zip(frame.columns, values, strict=True))]
        for label, values in zip(frame.index, frame.to_numpy().tolist(), strict=True)
    ]
    headers = [frame.index.name or "strategy", *map(str, frame.columns)]
    out = (f"<h2>{esc(table.title)}</h2>\n"
           + html_table(headers, rows, [False] + [True] * len(frame.columns), css))
    return out + (f'\n<p class="note">{esc(table.note)}</p>' if table.note else "")


def _cost_section(summary: pd.DataFrame) -> str:
    configs = configurations(summary)
    fields = [FIELDS_BY_NAME[name] for name in COST_FIELDS]
    rows = [
        [str(r["strategy"]), str(int(r["workers"])), str(int(r["cpus"])),
         *(f.format(r[f.name]) for f in fields)]
        for r in configs.to_dict("records")
    ]
    headers = ["strategy", "workers", "cpus", *(f.header for f in fields)]
    note = ("CPU: user + system time of the child and its descendants (wait4), per request "
            "that ran; memory: peaks of the sampled RSS sum (shared pages counted once per "
            "process) and PSS sum (shared pages split: the real footprint) over the child and "
            "its descendants; MiB/worker: peak PSS ÷ workers, peak RSS where PSS is missing; "
            "ideal: Little's law, workers ÷ mean latency; efficiency: req/s ÷ ideal.")
    table = html_table(headers, rows, [False] + [True] * (len(headers) - 1), "cost")
    return f"<h2>{esc(COST_TITLE)}</h2>\n{table}\n<p class=\"note\">{esc(note)}</p>"


def _plan_section(plan: Plan) -> str:
    from fetchbench.plan import plan_table, plan_title

    headers, cells = plan_table(plan)
    numeric = [h not in ("strategy", "basis", "note") for h in headers]
    items = "".join(f"<li>{esc(line)}</li>" for line in plan.assumptions)
    return (f"<h2>{esc(plan_title(plan))}</h2>\n{html_table(headers, cells, numeric, 'plan')}\n"
            f'<ul class="note">{items}</ul>')


def _meta_section(results: Results) -> str:
    meta = results.meta
    machine = meta.get("machine") or {}
    targets = meta.get("targets") or {}
    pairs = [
        ("results", results.path.name),
        ("created", meta.get("created")),
        ("complete", "yes" if results.complete else "no (interrupted or cut short)"),
        ("host", machine.get("host")),
        ("CPUs", f"{machine.get('cpus_available')} available of {machine.get('cpu_count')}"),
        ("platform", machine.get("platform")),
        ("Python", f"{machine.get('implementation') or ''} {machine.get('python') or ''}"),
        ("commit", machine.get("git_commit")),
        ("targets", f"{targets.get('source')} ({targets.get('count')} URLs)"),
    ]
    items = "\n".join(f"<dt>{esc(k)}</dt><dd>{esc(v if v is not None else '-')}</dd>"
                      for k, v in pairs)
    return f'<dl class="meta">\n{items}\n</dl>'


def _figures_section(pngs: dict[str, bytes]) -> str:
    from fetchbench.plot import PIXELS, PLOTS

    width, height = PIXELS
    figures = []
    for spec in PLOTS:
        if spec.name not in pngs:
            continue
        data = base64.b64encode(pngs[spec.name]).decode("ascii")
        figures.append(
            f'<figure id="{esc(spec.name)}">'
            f'<img src="data:image/png;base64,{data}" alt="{esc(spec.title)}" '
            f'width="{width}" height="{height}">'
            f"<figcaption>{esc(spec.title)}</figcaption></figure>"
        )
    return "<h2>Plots</h2>\n" + "\n".join(figures)


def render_html(results: Results, plan: Plan | None = None, with_plots: bool = True) -> str:
    """The whole report as one HTML document (plots embedded when ``with_plots``)."""
    summary = results.summary
    warnings = list(results.warnings)
    sections = [_meta_section(results)]
    if plan is not None:
        sections.append(_plan_section(plan))
    pivot = throughput_pivot(summary)
    sections.append(_frame_section(Table(PIVOT_TITLE, pivot, "median over rounds"), "pivot"))
    sections += [_frame_section(t, "capacity") for t in sweep_tables(summary)]
    if with_plots:
        from fetchbench.plot import render_all

        pngs, plot_warnings = render_all(results)
        warnings += plot_warnings
        sections.append(_figures_section(pngs))
    sections += [_cost_section(summary), _summary_section(summary)]
    if warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
        sections.insert(1, f'<ul class="warning">{items}</ul>')
    title = f"fetchbench report: {results.path.name}"
    body = "\n\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def report_command(args: list[str]) -> int:
    """``fetchbench report RESULTS.json -o report.html``: write the HTML report."""
    from fetchbench.cli import Parser
    from fetchbench.errors import UsageError
    from fetchbench.plan import machine_cpus, make_plan, positive_number
    from fetchbench.results import atomic_write_text, load_results

    parser = Parser(prog="fetchbench report",
                    description="Write one self-contained HTML page (tables and plots) "
                                "of a saved run.")
    parser.add_argument("file", metavar="RESULTS.json")
    parser.add_argument("-o", "--output", default="report.html", metavar="FILE",
                        help="the HTML file to write (default: ./report.html)")
    parser.add_argument("--target-rps", metavar="R", help="also include a plan for R req/s")
    parser.add_argument("--p99-ms", metavar="L", help="latency bound of that plan")
    ns = parser.parse_args(args)
    if ns.p99_ms is not None and ns.target_rps is None:
        raise UsageError("--p99-ms: only with --target-rps")
    results = load_results(ns.file)
    plan = None
    if ns.target_rps is not None:
        bound = None if ns.p99_ms is None else positive_number(ns.p99_ms, "--p99-ms")
        plan = make_plan(results.summary, positive_number(ns.target_rps, "--target-rps"),
                         bound, machine_cpus(results.meta))
    text = render_html(results, plan)
    try:
        atomic_write_text(ns.output, text)
    except OSError as exc:
        raise UsageError(f"cannot write {ns.output}: {exc.strerror or exc}") from None
    print(ns.output)
    return 0
