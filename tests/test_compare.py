"""Tests of fetchbench compare: verdicts, exit statuses and outputs, on frozen real results.

``tests/data/{base,again,slower}`` were made by real runs against the
embedded server (see tests/data/README.md): ``again`` is ``base`` run a second
time, ``slower`` has twice the server delay. Edge cases (fewer rounds,
missing runs, another machine) are derived from copies of those files.
Only the last test measures anything.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fetchbench.cli import main
from fetchbench.compare import (
    FASTER,
    METRICS,
    NO_CHANGE,
    NOISE,
    NOT_AVAILABLE,
    SLOWER,
    CompareSettings,
    Side,
    compare,
    judge,
    smallest_p,
)
from fetchbench.errors import InputError
from fetchbench.results import load_results
from tests.helpers import DATA, assert_one_line_exit_2


def saved(name: str) -> Path:
    """The JSON results file of one frozen result set."""
    (path,) = sorted((DATA / name).glob("*.json"))
    return path


def derive(
    name: str,
    dest: Path,
    keep: Callable[[dict], bool] = lambda run: True,
    change: Callable[[dict], None] = lambda doc: None,
) -> Path:
    """A copy of a frozen result set in ``dest`` with only the runs ``keep`` accepts."""
    src = saved(name)
    dest.mkdir(parents=True, exist_ok=True)
    doc = json.loads(src.read_text())
    doc["runs"] = [run for run in doc["runs"] if keep(run)]
    change(doc)
    out = dest / src.name
    out.write_text(json.dumps(doc))
    shutil.copy(src.with_suffix(".csv"), dest)
    return out


def run_compare(capsys, *args: object) -> tuple[int, str, str]:
    status = main(["compare", *(str(a) for a in args)])
    out, err = capsys.readouterr()
    return status, out, err


def rows_of(out: str) -> list[dict]:
    return json.loads(out)["comparisons"]


def verdicts(out: str, metric: str) -> dict[str, str]:
    return {r["strategy"]: r["verdict"] for r in rows_of(out) if r["metric"] == metric}


# -- verdicts on real data ---------------------------------------------------------


def test_a_clear_regression_exits_1_and_names_throughput(capsys):
    status, out, err = run_compare(capsys, saved("base"), saved("slower"))
    assert status == 1
    assert "throughput" in err and "regression" in err
    lines = [ln for ln in out.splitlines() if "throughput" in ln and ln.startswith("thread")]
    assert len(lines) == 1 and "slower" in lines[0]
    status, out, _ = run_compare(capsys, saved("base"), saved("slower"), "-f", "json")
    assert status == 1
    doc = json.loads(out)
    assert doc["regression"] is True and doc["exit_status"] == 1
    for row in doc["comparisons"]:
        assert row["verdict"] == SLOWER and row["tested"] and row["p_value"] < 0.05
        ratio = row["current"] / row["base"]
        assert ratio < 0.8 if row["metric"] == "throughput" else ratio > 1.2


def test_the_same_configuration_run_again_is_no_regression(capsys):
    status, out, err = run_compare(capsys, saved("base"), saved("again"), "-f", "json")
    assert status == 0, out
    assert "no regression" in err
    assert {r["verdict"] for r in rows_of(out)} <= {NO_CHANGE, NOISE}


def test_a_change_beyond_the_threshold_but_within_noise_is_noise(capsys):
    # base vs again: several medians move 3-7 % with p well above 0.05
    status, out, _ = run_compare(capsys, saved("base"), saved("again"), "--threshold", "3%",
                                 "-f", "json")
    assert status == 0
    rows = rows_of(out)
    noise = [r for r in rows if r["verdict"] == NOISE]
    assert noise, rows
    assert all(abs(r["change_pct"]) > 3 and r["p_value"] >= 0.05 for r in noise)
    assert not any(r["verdict"] == SLOWER for r in rows)


def test_a_speed_up_is_reported_as_faster(capsys):
    status, out, _ = run_compare(capsys, saved("slower"), saved("base"), "-f", "json")
    assert status == 0
    assert set(verdicts(out, "throughput").values()) == {FASTER}
    assert set(verdicts(out, "p50").values()) == {FASTER}  # smaller latency is better


def test_fail_on_limits_what_fails(capsys):
    status, _, _ = run_compare(capsys, saved("base"), saved("slower"), "--fail-on", "none")
    assert status == 0
    status, _, err = run_compare(capsys, saved("base"), saved("slower"),
                                 "--metric", "throughput,p99", "--fail-on", "p99")
    assert status == 1 and "p99 of" in err and "throughput of" not in err


def test_metric_selection_judges_only_those(capsys):
    _, out, _ = run_compare(capsys, saved("base"), saved("slower"), "--metric", "ttfb,max",
                            "-f", "json")
    assert {r["metric"] for r in rows_of(out)} == {"ttfb", "max"}


# -- rounds and the significance test ---------------------------------------------


def test_fewer_than_3_rounds_fall_back_to_the_threshold_with_a_note(capsys, tmp_path):
    def two(run: dict) -> bool:
        return run["round"] <= 2

    base = derive("base", tmp_path / "b", two)
    slower = derive("slower", tmp_path / "s", two)
    status, out, _ = run_compare(capsys, base, slower)
    assert status == 1
    assert "fewer than 3 rounds" in out and "threshold alone" in out
    status, out, _ = run_compare(capsys, base, slower, "-f", "json")
    rows = rows_of(out)
    assert all(r["p_value"] is None and not r["tested"] for r in rows)
    assert set(verdicts(out, "throughput").values()) == {SLOWER}


def test_3_and_3_rounds_cannot_reach_alpha_and_say_so(capsys, tmp_path):
    def three(run: dict) -> bool:
        return run["round"] <= 3

    base = derive("base", tmp_path / "b", three)
    slower = derive("slower", tmp_path / "s", three)
    status, out, _ = run_compare(capsys, base, slower)
    assert status == 1
    assert "cannot reach alpha 0.05" in out and "0.1" in out


def test_smallest_p_of_the_exact_test():
    assert smallest_p(3, 3) == pytest.approx(0.1)
    assert smallest_p(4, 4) == pytest.approx(2 / 70)
    assert smallest_p(5, 5) < 0.01


def test_judge_directions_noise_and_missing_values():
    key = ("thread", 4, 1)
    settings = CompareSettings()
    rate, p99 = METRICS["throughput"], METRICS["p99"]
    fast, slow = [100.0, 101, 99, 102, 98], [80.0, 81, 79, 82, 78]
    assert judge(rate, key, fast, slow, settings).verdict == SLOWER
    assert judge(rate, key, slow, fast, settings).verdict == FASTER
    assert judge(p99, key, fast, slow, settings).verdict == FASTER
    overlapping = [80.0, 60, 130, 70, 120]  # median -20 %, but two rounds are faster
    noisy = judge(rate, key, fast, overlapping, settings)
    assert noisy.verdict == NOISE and noisy.p_value >= 0.05 and abs(noisy.change_pct) > 10
    assert judge(rate, key, fast, [96.0, 97, 95, 98, 94], settings).verdict == NO_CHANGE
    assert judge(p99, key, fast, [], settings).verdict == NOT_AVAILABLE
    zero = judge(rate, key, [0.0], [5.0], settings)
    assert zero.verdict == FASTER and math.isinf(zero.change_pct)


# -- mismatched and unusable input -------------------------------------------------


def test_mismatched_runs_are_reported(capsys, tmp_path):
    current = derive("again", tmp_path / "c", lambda run: run["strategy"] != "serial")
    base = derive("base", tmp_path / "b", lambda run: run["strategy"] != "gevent-pool")
    status, out, _ = run_compare(capsys, base, current)
    assert status == 0
    assert "only in base: serial workers=1 cpus=2" in out
    assert "only in current: gevent-pool workers=4 cpus=2" in out
    _, out, _ = run_compare(capsys, base, current, "-f", "json")
    doc = json.loads(out)
    assert doc["only_in_base"] == [["serial", 1, 2]]
    assert {r["strategy"] for r in doc["comparisons"]} == {"thread"}


def test_a_baseline_without_its_records_csv_compares_without_warnings(capsys, tmp_path):
    json_only = tmp_path / saved("base").name
    shutil.copy(saved("base"), json_only)
    status, _, err = run_compare(capsys, json_only, saved("slower"))
    assert status == 1
    warnings = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and "targets differ (delay" in warnings[0]  # nothing on the CSV


def test_no_runs_in_common_exits_2(capsys, tmp_path):
    base = derive("base", tmp_path / "b", lambda run: run["strategy"] == "serial")
    current = derive("again", tmp_path / "c", lambda run: run["strategy"] == "thread")
    status, out, err = run_compare(capsys, base, current)
    assert out == ""
    assert_one_line_exit_2(status, err, "no runs in common", "serial workers=1", "thread workers=4")


@pytest.mark.parametrize(
    "content,fragment",
    [
        (None, "no such results file"),
        ("{not json", "invalid or truncated JSON"),
        ('{"schema": "something-else"}', "not a fetchbench results file"),
        ('{"schema": "fetchbench-results", "schema_version": 99, "runs": []}', "newer"),
    ],
)
def test_unusable_input_exits_2_with_one_line(capsys, tmp_path, content, fragment):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    status, out, err = run_compare(capsys, saved("base"), bad)
    assert out == ""
    assert_one_line_exit_2(status, err, str(bad), fragment)


def test_different_schema_versions_are_refused():
    base = Side("a.json", load_results(saved("base")).summary, {"schema_version": 1})
    current = Side("b.json", base.summary, {"schema_version": 2})
    with pytest.raises(InputError, match="schema 2 differs from a.json's schema 1"):
        compare(base, current)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--metric", "speed"], "unknown metric 'speed'"),
        (["--fail-on", "p90"], "'p90' is not judged"),
        (["--threshold", "ten"], "--threshold"),
        (["--alpha", "1.5"], "--alpha"),
        (["--format", "xml"], "--format"),
        (["--export", "csv", "x.json"], "unknown kind 'csv'"),
    ],
)
def test_bad_flags_exit_2(capsys, args, fragment):
    status, _, err = run_compare(capsys, saved("base"), saved("again"), *args)
    assert_one_line_exit_2(status, err, fragment)


def test_machines_that_differ_give_a_warning_not_a_failure(capsys, tmp_path):
    def elsewhere(doc: dict) -> None:
        doc["machine"]["host"] = "ci-runner-7"
        doc["machine"]["cpu_count"] = 64
        doc["machine"]["python"] = "3.12.1"

    current = derive("again", tmp_path / "c", change=elsewhere)
    status, out, err = run_compare(capsys, saved("base"), current)
    assert status == 0
    warning = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(warning) == 1
    assert "machines differ" in warning[0]
    assert "host: vm vs ci-runner-7" in warning[0] and "python: 3.11.7 vs 3.12.1" in warning[0]
    _, out, _ = run_compare(capsys, saved("base"), current, "-f", "markdown")
    assert ":warning: machines differ" in out


def test_markdown_is_ready_for_a_job_summary(capsys):
    status, out, _ = run_compare(capsys, saved("base"), saved("slower"), "-f", "markdown")
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == "### fetchbench: 9 regressions :x:"
    assert any(ln.startswith("| strategy") for ln in lines)
    assert any("| **slower**" in ln for ln in lines)
    _, out, _ = run_compare(capsys, saved("base"), saved("again"), "-f", "markdown")
    assert out.splitlines()[0] == "### fetchbench: no regression :white_check_mark:"


# -- end to end: two real runs, the second with twice the delay --------------------------


def fetchbench(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fetchbench", *(str(a) for a in args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_end_to_end_doubling_the_delay_is_a_throughput_regression(tmp_path):
    common = ["--strategy", "thread", "--workers", "5", "--urls", "30", "--size", "1KiB",
              "--cpus", "1", "--repeat", "5", "--quiet"]
    first = fetchbench(*common, "--delay", "20ms", "-o", tmp_path / "base", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    (base,) = (tmp_path / "base").glob("*.json")
    # run and compare in one step: the same exit status as `fetchbench compare`
    second = fetchbench(*common, "--delay", "40ms", "-o", tmp_path / "current",
                        "--compare", base, "--export", "gha-benchmark", tmp_path / "gha.json",
                        cwd=tmp_path)
    assert second.returncode == 1, second.stdout + second.stderr
    assert "throughput" in second.stderr and "regression" in second.stderr
    (current,) = (tmp_path / "current").glob("*.json")
    assert json.loads((tmp_path / "gha.json").read_text())[0]["unit"] == "req/s"

    compared = fetchbench("compare", base, current, "--format", "json", cwd=tmp_path)
    assert compared.returncode == 1, compared.stdout + compared.stderr
    assert "throughput" in compared.stderr
    (rate,) = [r for r in json.loads(compared.stdout)["comparisons"] if r["metric"] == "throughput"]
    assert rate["verdict"] == SLOWER and rate["tested"], rate  # 5 + 5 rounds: Mann-Whitney decided
    assert rate["current"] / rate["base"] < 0.8, rate
    print(f"e2e throughput: base {rate['base']:.1f} req/s, current {rate['current']:.1f} req/s, "
          f"change {rate['change_pct']:+.1f}%, p={rate['p_value']:.3f}")


def test_a_baseline_without_pss_compares_with_results_that_have_it(capsys, tmp_path):
    def add_pss(doc: dict) -> None:  # as a fetchbench that measures PSS would have saved it
        for run in doc["runs"]:
            run["peak_pss_mib"] = run["summary"]["peak_pss_mib"] = 0.7 * run["peak_rss_mib"]

    current = derive("again", tmp_path / "again", change=add_pss)
    assert load_results(current).summary["peak_pss_mib"].notna().all()
    status, out, err = run_compare(capsys, saved("base"), current, "-f", "json")
    assert status == 0, out
    assert {r["verdict"] for r in rows_of(out)} <= {NO_CHANGE, NOISE}
