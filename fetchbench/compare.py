"""Compare two result sets run by run and decide what really changed.

Runs are matched by (strategy, workers, cpus); every recorded round of a run
is one sample of each metric. Per run and metric:

- *change* = (median current − median base) ÷ median base, in percent;
- ``no change`` when the change is within the threshold (default 10 %);
- beyond it, when both sides have at least ``MIN_ROUNDS`` (3) rounds, the
  per-round values are tested with the two-sided Mann-Whitney U test
  (scipy): ``faster``/``slower`` when p < alpha (default 0.05), else
  ``noise``. The test is skipped when the round counts cannot reach alpha at
  all (3 + 3 rounds: the smallest two-sided p is 0.1), like asv does;
- with fewer rounds (or such counts) the threshold alone decides, and the
  result says so;
- ``n/a`` when a side has no value (no successful request).

Each metric knows whether bigger or smaller is better. A ``slower`` verdict
on a metric named by ``fail_on`` is a regression that counts: exit status 1.

Nothing heavy is imported at module level (the CLI imports this for --help);
pandas arrives with the summaries and scipy is imported only to test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fetchbench.errors import EXIT_OK, EXIT_REGRESSION, InputError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from fetchbench.results import Results

FASTER = "faster"
SLOWER = "slower"
NO_CHANGE = "no change"
NOISE = "noise"
NOT_AVAILABLE = "n/a"

MIN_ROUNDS = 3
DEFAULT_THRESHOLD = 10.0  # percent
DEFAULT_ALPHA = 0.05
DEFAULT_METRICS: tuple[str, ...] = ("throughput", "p50", "p99")

RunKey = tuple[str, int, int]  # (strategy, workers, cpus)
_KEYS = ["strategy", "workers", "cpus"]
# What must match between the two machines, or a warning says it did not.
_MACHINE_KEYS: tuple[str, ...] = ("host", "cpu_count", "python", "implementation")
# Options that change what is measured (targets are compared whole).
_OPTION_KEYS: tuple[str, ...] = ("timeout", "max_bytes", "max_time", "keepalive")

COMPARE_FORMATS: tuple[str, ...] = ("table", "markdown", "json")  # compare output formats


@dataclass(frozen=True)
class Metric:
    """One judged quantity: the summary column it reads and which way is better."""

    name: str
    column: str
    unit: str
    bigger_is_better: bool
    fmt: str = ".1f"

    @property
    def label(self) -> str:
        """e.g. "throughput req/s", "p99 ms"."""
        return f"{self.name} {self.unit}"

    def format(self, value: float | None) -> str:
        """The value as text ("-" when missing)."""
        return "-" if value is None else format(value, self.fmt)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("throughput", "req_per_s", "req/s", True),
        Metric("transfer", "mib_per_s", "MiB/s", True, ".2f"),
        Metric("p50", "p50_ms", "ms", False),
        Metric("p90", "p90_ms", "ms", False),
        Metric("p99", "p99_ms", "ms", False),
        Metric("max", "max_ms", "ms", False),
        Metric("mean", "mean_ms", "ms", False),
        Metric("ttfb", "ttfb_p50_ms", "ms", False),
        Metric("cpu", "cpu_ms_per_req", "ms/req", False, ".2f"),
    )
}


@dataclass(frozen=True)
class CompareSettings:
    """How to judge: which metrics, which of them fail, threshold (%) and alpha."""

    metrics: tuple[str, ...] = DEFAULT_METRICS
    fail_on: tuple[str, ...] | None = None  # None: every judged metric; (): never fail
    threshold: float = DEFAULT_THRESHOLD
    alpha: float = DEFAULT_ALPHA

    @property
    def failing(self) -> tuple[str, ...]:
        """The metrics whose regressions fail the comparison."""
        return self.metrics if self.fail_on is None else self.fail_on


@dataclass
class Side:
    """One side of a comparison: a label, a summary (one row per round) and its metadata."""

    label: str
    summary: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_results(cls, results: Results, label: str | None = None) -> Side:
        """A loaded results file as a side."""
        return cls(label or str(results.path), results.summary, results.meta)

    def describe(self) -> str:
        """Label, host, date and commit, as one line."""
        machine = self.meta.get("machine") or {}
        bits = [str(v) for v in (machine.get("host"), self.meta.get("created")) if v]
        commit = machine.get("git_commit")
        if commit:
            bits.append(f"commit {str(commit)[:10]}")
        return f"{self.label} ({', '.join(bits)})" if bits else self.label


@dataclass(frozen=True)
class Comparison:
    """One run × one metric: both medians, the change, the test and the verdict."""

    key: RunKey
    metric: Metric
    base: float | None
    current: float | None
    change_pct: float | None
    verdict: str
    p_value: float | None  # None when not tested
    base_rounds: int
    current_rounds: int
    tested: bool  # True: Mann-Whitney decided beyond the threshold; False: threshold alone

    @property
    def run(self) -> str:
        """e.g. "thread workers=4 cpus=2"."""
        return run_label(self.key)


@dataclass
class CompareResult:
    """Everything a comparison found, ready for any output format."""

    base: Side
    current: Side
    settings: CompareSettings
    rows: list[Comparison]
    only_base: list[RunKey]
    only_current: list[RunKey]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Comparison]:
        """``slower`` verdicts on a metric that fails the comparison."""
        failing = set(self.settings.failing)
        return [r for r in self.rows if r.verdict == SLOWER and r.metric.name in failing]

    @property
    def exit_status(self) -> int:
        """1 when a regression counts, else 0."""
        return EXIT_REGRESSION if self.regressions else EXIT_OK


def run_label(key: RunKey) -> str:
    """A run key as text: "thread workers=4 cpus=2"."""
    strategy, workers, cpus = key
    return f"{strategy} workers={workers} cpus={cpus}"


def parse_metrics(text: str, option: str) -> tuple[str, ...]:
    """A comma list of metric names (UsageError naming the option on an unknown one)."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"{option}: give a comma list of metrics ({', '.join(METRICS)})")
    for name in names:
        if name not in METRICS:
            raise UsageError(
                f"{option}: unknown metric '{name}' (known: {', '.join(METRICS)})"
            )
    return tuple(dict.fromkeys(names))


def smallest_p(n: int, m: int) -> float:
    """The smallest two-sided p-value an exact Mann-Whitney U test of n and m values can give."""
    return min(1.0, 2.0 / math.comb(n + m, n))


def mann_whitney_p(base: Sequence[float], current: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value of two samples (scipy's implementation)."""
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        raise UsageError(
            "the significance test needs scipy: pip install scipy"
        ) from None
    if len(set(base) | set(current)) == 1:
        return 1.0  # every value equal: nothing to tell apart (scipy would give nan)
    return float(mannwhitneyu(base, current, alternative="two-sided").pvalue)


def judge(
    metric: Metric,
    key: RunKey,
    base_values: Sequence[float],
    current_values: Sequence[float],
    settings: CompareSettings,
) -> Comparison:
    """The verdict on one run and metric from its per-round values (NaN already dropped)."""
    nb, nc = len(base_values), len(current_values)
    if not nb or not nc:
        return Comparison(key, metric, _median(base_values), _median(current_values), None,
                          NOT_AVAILABLE, None, nb, nc, False)
    base, current = _median(base_values), _median(current_values)
    assert base is not None and current is not None
    change = _change_pct(base, current)
    testable = (
        min(nb, nc) >= MIN_ROUNDS and smallest_p(nb, nc) < settings.alpha
    )
    p = mann_whitney_p(base_values, current_values) if testable else None
    if abs(change) <= settings.threshold:
        verdict = NO_CHANGE
    else:
        better = change > 0 if metric.bigger_is_better else change < 0
        verdict = FASTER if better else SLOWER
        if p is not None and p >= settings.alpha:
            verdict = NOISE
    return Comparison(key, metric, base, current, change, verdict, p, nb, nc, testable)


def compare(base: Side, current: Side, settings: CompareSettings | None = None) -> CompareResult:
    """Match the runs of two sides and judge every metric of every common run.

    ``InputError`` (exit 2) when the sides share no run or differ in schema.
    """
    settings = settings or CompareSettings()
    _check_schema(base, current)
    base_runs, current_runs = _by_run(base.summary), _by_run(current.summary)
    common = [k for k in base_runs if k in current_runs]
    only_base = [k for k in base_runs if k not in current_runs]
    only_current = [k for k in current_runs if k not in base_runs]
    if not common:
        raise InputError(
            f"no runs in common: {base.label} has {_runs_text(list(base_runs))}; "
            f"{current.label} has {_runs_text(list(current_runs))}"
        )
    rows = []
    for key in common:
        for name in settings.metrics:
            metric = METRICS[name]
            rows.append(judge(metric, key, _values(base_runs[key], metric.column),
                              _values(current_runs[key], metric.column), settings))
    result = CompareResult(base, current, settings, rows, only_base, only_current)
    result.notes.extend(_notes(result, base_runs, current_runs, common))
    result.warnings.extend(differences(base.meta, current.meta))
    for side in (base, current):
        if side.meta and side.meta.get("complete") is False:
            result.warnings.append(
                f"{side.label} is incomplete (interrupted); comparing the runs that finished"
            )
    return result


def differences(base_meta: dict[str, Any], current_meta: dict[str, Any]) -> list[str]:
    """Warnings about what differs between the two sides besides the code under test."""
    warnings = []
    machine = _diff(base_meta.get("machine") or {}, current_meta.get("machine") or {},
                    _MACHINE_KEYS)
    if machine:
        warnings.append(f"machines differ ({machine}); a change may be the machine's, "
                        "not the code's")
    base_targets, current_targets = base_meta.get("targets"), current_meta.get("targets")
    if base_targets and current_targets:
        keys = tuple(dict.fromkeys([*base_targets, *current_targets]))
        targets = _diff(base_targets, current_targets, keys)
        if targets:
            warnings.append(f"targets differ ({targets})")
    options = _diff(base_meta.get("options") or {}, current_meta.get("options") or {},
                    _OPTION_KEYS)
    if options:
        warnings.append(f"fetch options differ ({options})")
    return warnings


def _diff(base: dict[str, Any], current: dict[str, Any], keys: Sequence[str]) -> str:
    """ "key: a vs b; ..." for the keys both sides have and disagree on."""
    return "; ".join(
        f"{k}: {base[k]} vs {current[k]}"
        for k in keys
        if k in base and k in current and base[k] != current[k]
    )


def _check_schema(base: Side, current: Side) -> None:
    b, c = base.meta.get("schema_version"), current.meta.get("schema_version")
    if b is not None and c is not None and b != c:
        raise InputError(
            f"{current.label}: results schema {c} differs from {base.label}'s schema {b}; "
            "compare files written by the same fetchbench schema"
        )


def _by_run(summary: pd.DataFrame) -> dict[RunKey, pd.DataFrame]:
    """The summary rows (rounds) of each run, in order of first appearance."""
    if summary.empty:
        return {}
    return {
        (str(s), int(w), int(c)): rows
        for (s, w, c), rows in summary.groupby(_KEYS, sort=False)
    }


def _values(rows: pd.DataFrame, column: str) -> list[float]:
    """A column's finite per-round values."""
    if column not in rows.columns:
        return []
    return [float(v) for v in rows[column].tolist() if v is not None and math.isfinite(float(v))]


def _median(values: Sequence[float]) -> float | None:
    import statistics  # here, not at the top: compare is imported by `fetchbench --help`

    return statistics.median(values) if values else None


def _change_pct(base: float, current: float) -> float:
    if base == 0:
        return 0.0 if current == 0 else math.copysign(math.inf, current)
    return (current - base) / abs(base) * 100.0


def _runs_text(keys: list[RunKey]) -> str:
    if not keys:
        return "no runs"
    shown = ", ".join(run_label(k) for k in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def _notes(
    result: CompareResult,
    base_runs: dict[RunKey, pd.DataFrame],
    current_runs: dict[RunKey, pd.DataFrame],
    common: list[RunKey],
) -> list[str]:
    """Lines that explain how the verdicts were reached where it was not the full test."""
    notes = []
    untested = [k for k in common if not any(r.tested for r in result.rows if r.key == k)]
    few = [k for k in untested if min(len(base_runs[k]), len(current_runs[k])) < MIN_ROUNDS]
    if few:
        notes.append(
            f"fewer than {MIN_ROUNDS} rounds on a side for {_runs_text(few)}: judged on the "
            f"{result.settings.threshold:g}% threshold alone, without a significance test "
            f"(run with --repeat 5 for one)"
        )
    weak = [k for k in untested if k not in few]
    if weak:
        n, m = len(base_runs[weak[0]]), len(current_runs[weak[0]])
        notes.append(
            f"{n} + {m} rounds cannot reach alpha {result.settings.alpha:g} "
            f"(the smallest possible p is {smallest_p(n, m):.2g}) for {_runs_text(weak)}: "
            f"judged on the threshold alone (run with --repeat 5 for a significance test)"
        )
    for key in common:
        b = int(base_runs[key]["errors"].sum()) if "errors" in base_runs[key] else 0
        c = int(current_runs[key]["errors"].sum()) if "errors" in current_runs[key] else 0
        if c > b:
            notes.append(f"{run_label(key)}: {c} failed requests (base: {b})")
    return notes
