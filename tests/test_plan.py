"""``fetchbench plan``: measured recommendations, marked extrapolations, one-line errors."""

from __future__ import annotations

import json

import pytest

from fetchbench.cli import main
from fetchbench.errors import UsageError
from fetchbench.plan import (
    EXTRAPOLATED,
    MARK,
    MEASURED,
    UNREACHABLE,
    make_plan,
    plan_table,
    render_plan,
)
from fetchbench.results import load_results
from tests.capacity_data import SWEEP, row, summary_of


def by_strategy(plan):
    return {r.strategy: r for r in plan.rows}


@pytest.fixture
def synthetic():
    return summary_of(
        row("thread", 1, 1, 20.0, p99_ms=55.0),
        row("thread", 4, 1, 80.0, p99_ms=60.0),
        row("thread", 4, 2, 82.0, p99_ms=58.0),
        row("thread", 16, 1, 300.0, p99_ms=120.0, cpu_ms_per_req=1.5, peak_rss_mib=40.0),
        row("thread", 16, 2, 310.0, p99_ms=90.0),
        row("serial", 1, 1, 19.0, p99_ms=52.0, cpu_ms_per_req=3.0, peak_rss_mib=25.0),
        row("serial", 1, 2, 19.5, p99_ms=53.0),
    )


def test_smallest_measured_configuration_that_reaches_the_target(synthetic):
    thread = by_strategy(make_plan(synthetic, 81.0, machine_cpus=2))["thread"]
    assert thread.basis == MEASURED
    assert (thread.workers, thread.cpus, thread.processes, thread.machines) == (4, 2, 1, 1)
    thread = by_strategy(make_plan(synthetic, 250.0, machine_cpus=2))["thread"]
    assert (thread.workers, thread.cpus) == (16, 1)  # fewest workers, then fewest CPUs
    assert thread.cpu_cores == pytest.approx(1.5 * 250 / 1000)  # CPU ms/req × target
    assert thread.peak_mib == 40.0


def test_latency_bound_picks_another_configuration(synthetic):
    thread = by_strategy(make_plan(synthetic, 250.0, p99_ms=100.0, machine_cpus=2))["thread"]
    assert (thread.basis, thread.workers, thread.cpus) == (MEASURED, 16, 2)


def test_unreached_target_extrapolates_from_the_knee(synthetic):
    plan = make_plan(synthetic, 100.0, machine_cpus=4)
    serial = by_strategy(plan)["serial"]
    assert serial.basis == EXTRAPOLATED
    assert (serial.workers, serial.cpus) == (1, 1)  # 19.0 ≥ 90% of the best, 19.5
    assert serial.processes == 6  # ceil(100 / 19.0)
    assert serial.machines == 2  # 4 one-CPU copies fit on a 4-CPU machine
    assert serial.total_req_per_s == pytest.approx(6 * 19.0)
    assert serial.peak_mib == pytest.approx(6 * 25.0)
    assert serial.cpu_cores == pytest.approx(3.0 * 100 / 1000)
    assert "knee" in serial.note
    assert any("extrapolated" in line and "linear" in line for line in plan.assumptions)


def test_no_configuration_within_the_bound_is_said_so(synthetic):
    serial = by_strategy(make_plan(synthetic, 10.0, p99_ms=50.0))["serial"]
    assert serial.basis == UNREACHABLE and serial.workers is None
    assert "52.0 ms" in serial.note


def test_incomplete_runs_are_not_candidates():
    summary = summary_of(row("thread", 4, 1, 500.0, complete=False), row("thread", 8, 1, 90.0))
    thread = by_strategy(make_plan(summary, 100.0))["thread"]
    assert (thread.basis, thread.workers) == (EXTRAPOLATED, 8)
    with pytest.raises(UsageError):
        make_plan(summary_of(row("thread", 4, 1, 500.0, complete=False)), 100.0)
    failing = summary_of(row("thread", 4, 1, 0.0, ok=0, errors=100), row("serial", 1, 1, 9.0))
    plan = by_strategy(make_plan(failing, 100.0))
    assert list(plan) == ["serial"]  # a run with no success is nothing to scale from


def test_missing_memory_sample_is_not_zero_memory():
    plan = make_plan(summary_of(row("thread", 4, 1, 50.0, peak_rss_mib=0.0)), 10.0)
    assert plan.rows[0].peak_mib is None
    headers, cells = plan_table(plan)
    assert cells[0][headers.index("peak MiB")] == "-"


def test_rendered_plan_stars_extrapolated_figures_only(synthetic):
    text = render_plan(make_plan(synthetic, 100.0, machine_cpus=2))
    lines = text.splitlines()
    assert lines[0] == "Plan for 100 req/s"
    serial = next(ln for ln in lines if ln.startswith("serial"))
    thread = next(ln for ln in lines if ln.startswith("thread"))
    assert "extrapolated" in serial and f"6{MARK}" in serial
    assert "measured" in thread and MARK not in thread
    assert any(ln.startswith(f"{MARK} extrapolated, not measured") for ln in lines)
    markdown = render_plan(make_plan(synthetic, 100.0, machine_cpus=2), "markdown")
    assert " 6\\* |" in markdown and "- \\* extrapolated, not measured" in markdown
    doc = json.loads(render_plan(make_plan(synthetic, 100.0), "json"))
    assert {r["strategy"]: r["basis"] for r in doc["rows"]} == {
        "serial": EXTRAPOLATED, "thread": MEASURED}
    assert doc["target_rps"] == 100.0


def test_plan_of_the_frozen_sweep():
    results = load_results(SWEEP)
    plan = by_strategy(make_plan(results.summary, 100.0, machine_cpus=2))
    expected = {
        # strategy: (basis, workers, cpus, processes, machines)
        "serial": (EXTRAPOLATED, 1, 1, 6, 3),  # 19.1 req/s; two one-CPU copies per machine
        "process": (EXTRAPOLATED, 4, 2, 2, 2),  # knee 66.8 at 4 workers needs 2 CPUs
        "thread": (MEASURED, 16, 1, 1, 1),
        "gevent-spawn": (MEASURED, 24, 1, 1, 1),
        "gevent-pool": (MEASURED, 16, 1, 1, 1),
    }
    got = {s: (r.basis, r.workers, r.cpus, r.processes, r.machines) for s, r in plan.items()}
    assert got == expected
    bounded = by_strategy(make_plan(results.summary, 200.0, p99_ms=90.0, machine_cpus=2))
    assert (bounded["gevent-spawn"].basis, bounded["gevent-spawn"].cpus) == (MEASURED, 2)
    assert bounded["thread"].basis == EXTRAPOLATED
    assert (bounded["process"].workers, bounded["process"].cpus) == (4, 2)  # p99 73 ms
    tight = by_strategy(make_plan(results.summary, 200.0, p99_ms=70.0, machine_cpus=2))
    assert tight["process"].basis == UNREACHABLE  # its best p99 is 73.0 ms
    assert tight["gevent-spawn"].basis == UNREACHABLE


def test_plan_command(capsys):
    assert main(["plan", str(SWEEP), "--target-rps", "100", "--p99-ms", "200"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Plan for 100 req/s with p99 ≤ 200 ms\n")
    assert "assum" in out.lower() and "extrapolated" in out
    assert main(["plan", str(SWEEP), "--target-rps", "100", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["machine_cpus"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target-rps", "0"], "--target-rps: must be a positive number"),
        (["--target-rps", "fast"], "--target-rps: not a number"),
        (["--target-rps", "10", "--p99-ms", "nan"], "--p99-ms: must be a positive number"),
        ([], "--target-rps"),
    ],
)
def test_plan_bad_options_exit_2_with_one_line(capsys, args, message):
    assert main(["plan", str(SWEEP), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_plan_missing_file_exits_2(capsys, tmp_path):
    assert main(["plan", str(tmp_path / "nope.json"), "--target-rps", "5"]) == 2
    assert "no such results file" in capsys.readouterr().err


def test_plan_memory_is_pss_where_measured_and_says_so():
    summary = summary_of(
        row("process", 8, 1, 60.0, peak_rss_mib=220.0, peak_pss_mib=75.0),
        row("thread", 8, 1, 60.0, peak_rss_mib=30.0),  # results of a fetchbench without PSS
    )
    plan = make_plan(summary, 120.0)
    rows = by_strategy(plan)
    assert rows["process"].processes == 2
    assert rows["process"].peak_mib == pytest.approx(150.0)  # PSS × processes, not 440
    assert rows["process"].memory_basis == "PSS"
    assert rows["thread"].peak_mib == pytest.approx(60.0)
    assert rows["thread"].memory_basis == "RSS"
    assert "peak PSS" in plan.assumptions[1] and "RSS where no PSS" in plan.assumptions[1]
    assert json.loads(render_plan(plan, "json"))["rows"][0]["memory_basis"] == "PSS"


def test_plan_from_results_without_pss_says_rss():
    plan = make_plan(load_results(SWEEP).summary, 100.0)
    assert {r.memory_basis for r in plan.rows if r.peak_mib is not None} == {"RSS"}
    assert "peak RSS" in plan.assumptions[1]
