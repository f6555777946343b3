"""``fetchbench plan``: from measured configurations to a capacity recommendation.

For each strategy, the smallest measured configuration (fewest workers, then
fewest CPUs) whose median throughput reaches the target within the latency
bound. Where none does, the knee (``capacity.knee``) and how many copies of it
the target would take if copies scaled linearly: an extrapolation, always
marked ``basis = extrapolated`` and starred in the tables. Nothing is measured
here; ``make_plan`` is pure, ``plan_command`` is the CLI around it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from fetchbench.capacity import Point, configurations, knee, strategy_sort_key
from fetchbench.errors import UsageError
from fetchbench.stats import cpu_label, memory_basis, memory_mib

MEASURED = "measured"
EXTRAPOLATED = "extrapolated"
UNREACHABLE = "none"
PLAN_FORMATS: tuple[str, ...] = ("table", "markdown", "json")
MARK = "*"


@dataclass(frozen=True)
class PlanRow:
    """The recommendation for one strategy (per-process figures are measured medians)."""

    strategy: str
    basis: str  # MEASURED, EXTRAPOLATED or UNREACHABLE
    workers: int | None = None
    cpus: int | None = None  # per process
    processes: int | None = None  # copies of the configuration (1 when measured)
    machines: int | None = None  # machines like the measured one
    req_per_s: float | None = None  # of one process, measured
    p99_ms: float | None = None  # of one process, measured
    total_req_per_s: float | None = None  # processes × req_per_s
    cpu_ms_per_req: float | None = None  # measured
    cpu_cores: float | None = None  # CPU time per second at the target rate
    peak_mib: float | None = None  # peak memory of all processes (PSS, else RSS: memory_basis)
    memory_basis: str | None = None  # "PSS" or "RSS": which peak ``peak_mib`` multiplies
    note: str = ""


@dataclass(frozen=True)
class Plan:
    """A plan for one target: one row per strategy, and the assumptions behind it."""

    target_rps: float
    p99_ms: float | None
    machine_cpus: int
    rows: list[PlanRow]
    assumptions: list[str] = field(default_factory=list)


def make_plan(
    summary: pd.DataFrame,
    target_rps: float,
    p99_ms: float | None = None,
    machine_cpus: int | None = None,
) -> Plan:
    """The recommendation for ``target_rps`` (and p99 ≤ ``p99_ms``) from a results summary.

    ``machine_cpus`` is how many CPUs one machine offers (the measured
    machine's; default: the most CPUs any run used).
    """
    configs = configurations(summary)
    configs = configs[configs["complete"] & (configs["req_per_s"] > 0)]
    configs = configs.assign(memory_mib=memory_mib(configs), memory_basis=memory_basis(configs))
    if configs.empty:
        raise UsageError("no complete run with successful requests in these results: "
                         "nothing to plan from")
    cpus_per_machine = int(machine_cpus or configs["cpus"].max())
    rows = [
        _plan_strategy(str(name), group, target_rps, p99_ms, cpus_per_machine)
        for name, group in sorted(configs.groupby("strategy", sort=False),
                                  key=lambda item: strategy_sort_key(str(item[0])))
    ]
    return Plan(target_rps, p99_ms, cpus_per_machine, rows,
                _assumptions(rows, cpus_per_machine, p99_ms))


def _within(group: pd.DataFrame, p99_ms: float | None) -> pd.DataFrame:
    """The configurations meeting the latency bound (all of them without one)."""
    if p99_ms is None:
        return group
    return group[group["p99_ms"].notna() & (group["p99_ms"] <= p99_ms)]


def _plan_strategy(
    name: str,
    group: pd.DataFrame,
    target: float,
    p99_ms: float | None,
    cpus_per_machine: int,
) -> PlanRow:
    """One strategy's row: measured if some configuration reaches the target, else the knee."""
    eligible = _within(group, p99_ms)
    if eligible.empty:
        best = group["p99_ms"].min()
        shown = "-" if pd.isna(best) else f"{best:.1f} ms"
        return PlanRow(name, UNREACHABLE,
                       note=f"no configuration has p99 ≤ {p99_ms:g} ms (best p99: {shown})")
    reaching = eligible[eligible["req_per_s"] >= target]
    if not reaching.empty:
        chosen = reaching.sort_values(["workers", "cpus"], kind="stable").iloc[0]
        return _row(name, MEASURED, chosen, 1, target, cpus_per_machine, _errors_note(chosen))
    points = [Point(int(r.workers), int(r.cpus), float(r.req_per_s))
              for r in eligible.itertuples()]
    point = knee(points)
    assert point is not None  # eligible rows all have a positive throughput
    chosen = eligible[(eligible["workers"] == point.workers)
                      & (eligible["cpus"] == point.cpus)].iloc[0]
    processes = math.ceil(target / point.req_per_s)
    best = max(p.req_per_s for p in points)
    note = f"{processes} × knee ({point.req_per_s:.1f} of best {best:.1f} req/s)"
    scaling = _scaling_note(eligible, point.workers)
    note = "; ".join(n for n in (note, scaling, _errors_note(chosen)) if n)
    return _row(name, EXTRAPOLATED, chosen, processes, target, cpus_per_machine, note)


def _row(
    name: str,
    basis: str,
    chosen: pd.Series,
    processes: int,
    target: float,
    cpus_per_machine: int,
    note: str,
) -> PlanRow:
    """A plan row for ``processes`` copies of the configuration ``chosen``."""
    cpus = int(chosen["cpus"])
    per_machine = max(1, cpus_per_machine // cpus)
    rps = float(chosen["req_per_s"])
    cpu_ms = _number(chosen["cpu_ms_per_req"])
    memory = _number(chosen["memory_mib"])  # peak PSS where measured, else RSS
    return PlanRow(
        strategy=name,
        basis=basis,
        workers=int(chosen["workers"]),
        cpus=cpus,
        processes=processes,
        machines=math.ceil(processes / per_machine),
        req_per_s=rps,
        p99_ms=_number(chosen["p99_ms"]),
        total_req_per_s=rps * processes,
        cpu_ms_per_req=cpu_ms,
        cpu_cores=None if cpu_ms is None else cpu_ms * target / 1000.0,
        peak_mib=None if memory is None else memory * processes,
        memory_basis=chosen["memory_basis"],
        note=note,
    )


def _number(value: object) -> float | None:
    """A float, or None for a missing value (NaN)."""
    if value is None or pd.isna(value):
        return None
    return float(value)  # type: ignore[arg-type]


def _errors_note(chosen: pd.Series) -> str:
    errors = int(chosen["errors"])
    return f"{errors} failed request(s) in these runs" if errors else ""


def _scaling_note(group: pd.DataFrame, workers: int) -> str:
    """The measured CPU scaling efficiency of this worker count (fewest → most CPUs), as text."""
    same = group[group["workers"] == workers].sort_values("cpus")
    if len(same) < 2:
        return ""
    low, high = same.iloc[0], same.iloc[-1]
    base, top = int(low["cpus"]), int(high["cpus"])
    if not low["req_per_s"] > 0:
        return ""
    value = (high["req_per_s"] / low["req_per_s"]) / (top / base)
    return f"CPU scaling {base}→{cpu_label(top)} measured: efficiency {value:.2f}"


def _memory_text(rows: list[PlanRow]) -> str:
    """Which memory figure the rows' peak MiB rests on, in words."""
    bases = {r.memory_basis for r in rows if r.memory_basis}
    if bases == {"RSS"}:
        return "peak RSS (no PSS in these results; shared pages counted once per process)"
    if bases == {"PSS"} or not bases:
        return "peak PSS (shared pages split among the processes sharing them)"
    return ("peak PSS (shared pages split among the processes sharing them), peak RSS "
            "where no PSS was measured (" + ", ".join(
                r.strategy for r in rows if r.memory_basis == "RSS") + ")")


def _assumptions(rows: list[PlanRow], cpus_per_machine: int, p99_ms: float | None) -> list[str]:
    """What the figures rest on, stated in words."""
    lines = [
        "measured: medians over rounds of the configurations in the results file; "
        "the smallest one (fewest workers, then fewest CPUs) reaching the target"
        + (f" with p99 ≤ {p99_ms:g} ms" if p99_ms is not None else "") + ".",
        "CPU cores = measured CPU ms/request × target req/s ÷ 1000 (CPU time per request "
        "assumed constant); memory = " + _memory_text(rows) + " of one process × processes.",
    ]
    if any(r.basis == EXTRAPOLATED for r in rows):
        lines.append(
            f"{MARK} extrapolated, not measured: where no configuration reaches the target, "
            "the knee (fewest workers reaching 90% of the strategy's best req/s) is copied "
            "ceil(target ÷ its req/s) times, ASSUMING throughput scales linearly with copies "
            "and the CPUs they are pinned to, as if each copy ran alone (the targets and the "
            "network must keep up); "
            f"machines assume {cpus_per_machine} CPU(s) each, like the measured one."
        )
    if any(r.basis == UNREACHABLE for r in rows):
        lines.append("none: no measured configuration meets the latency bound.")
    return lines


# -- output --------------------------------------------------------------------

_COLUMNS: tuple[tuple[str, str, str, bool], ...] = (
    # attribute, header, format, starred when extrapolated
    ("strategy", "strategy", "", False),
    ("basis", "basis", "", False),
    ("workers", "workers", "d", False),
    ("cpus", "cpus", "d", False),
    ("processes", "processes", "d", True),
    ("machines", "machines", "d", True),
    ("req_per_s", "req/s each", ".1f", False),
    ("total_req_per_s", "req/s total", ".1f", True),
    ("p99_ms", "p99 ms", ".1f", False),
    ("cpu_ms_per_req", "cpu ms/req", ".2f", False),
    ("cpu_cores", "CPU cores at target", ".2f", True),
    ("peak_mib", "peak MiB", ".1f", True),
    ("note", "note", "", False),
)


def _cell(row: PlanRow, name: str, fmt: str, starred: bool) -> str:
    value = getattr(row, name)
    if value is None:
        return "-"
    text = format(value, fmt) if fmt else str(value)
    return text + MARK if starred and row.basis == EXTRAPOLATED else text


def plan_title(plan: Plan) -> str:
    """e.g. "Plan for 500 req/s with p99 ≤ 200 ms"."""
    bound = f" with p99 ≤ {plan.p99_ms:g} ms" if plan.p99_ms is not None else ""
    return f"Plan for {plan.target_rps:g} req/s{bound}"


def plan_table(plan: Plan) -> tuple[list[str], list[list[str]]]:
    """Headers and text cells of the plan table (extrapolated figures starred)."""
    headers = [header for _, header, _, _ in _COLUMNS]
    cells = [
        [_cell(row, name, fmt, starred) for name, _, fmt, starred in _COLUMNS]
        for row in plan.rows
    ]
    return headers, cells


def render_plan(plan: Plan, fmt: str = "table") -> str:
    """The plan as text (``table`` or ``markdown``) or JSON, ending with a newline."""
    if fmt == "json":
        doc = {**asdict(plan), "rows": [asdict(r) for r in plan.rows]}
        return json.dumps(doc, indent=2, allow_nan=False) + "\n"
    if fmt not in PLAN_FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(PLAN_FORMATS)}")
    from tabulate import tabulate

    headers, cells = plan_table(plan)
    markdown = fmt == "markdown"
    mark = "\\" + MARK if markdown else MARK  # a bare * is emphasis or a bullet in markdown
    cells = [[c.replace(MARK, mark) for c in line] for line in cells]
    align = ["left", "left", *(["right"] * (len(headers) - 3)), "left"]
    table = tabulate(cells, headers=headers, tablefmt="github" if markdown else "simple",
                     disable_numparse=True, colalign=align)
    title = f"### {plan_title(plan)}" if markdown else plan_title(plan)
    bullet = "- " if markdown else ""
    lines = [title, *([""] if markdown else []), table, ""]
    lines += [f"{bullet}{line.replace(MARK, mark)}" for line in plan.assumptions]
    return "\n".join(lines) + "\n"


def plan_command(args: list[str]) -> int:
    """``fetchbench plan RESULTS.json --target-rps R [--p99-ms L]``: print the plan."""
    from fetchbench.cli import Parser
    from fetchbench.results import load_results

    parser = Parser(prog="fetchbench plan",
                    description="Recommend a strategy configuration for a target rate, "
                                "from a saved (sweep) results file.")
    parser.add_argument("file", metavar="RESULTS.json")
    parser.add_argument("--target-rps", required=True, metavar="R",
                        help="successful requests per second to reach")
    parser.add_argument("--p99-ms", metavar="L", help="latency bound: p99 at most L ms")
    parser.add_argument("-f", "--format", default="table", choices=PLAN_FORMATS)
    ns = parser.parse_args(args)
    target = positive_number(ns.target_rps, "--target-rps")
    bound = None if ns.p99_ms is None else positive_number(ns.p99_ms, "--p99-ms")
    results = load_results(ns.file)
    plan = make_plan(results.summary, target, bound, machine_cpus(results.meta))
    print(render_plan(plan, ns.format), end="")
    return 0


def machine_cpus(meta: dict[str, Any]) -> int | None:
    """CPUs of the measured machine, from a results file's metadata (None if unknown)."""
    machine = meta.get("machine") or {}
    cpus = machine.get("cpus_available") or machine.get("cpu_count")
    return cpus if isinstance(cpus, int) and not isinstance(cpus, bool) and cpus > 0 else None


def positive_number(text: str, option: str) -> float:
    """A finite number > 0, or a one-line UsageError naming the option."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{option}: not a number: '{text}'") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{option}: must be a positive number, got '{text}'")
    return value
