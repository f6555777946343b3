"""``fetchbench compare BASE CURRENT``, the judging flags it shares with a run, and --export.

Exit statuses: 0 no regression that counts, 1 a regression that counts,
2 unusable input (unreadable file, different schema, no runs in common).
Warnings (machines or targets differ, incomplete results) go to stderr and
never fail the comparison.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fetchbench.cli import Parser, reject_flags
from fetchbench.compare import (
    COMPARE_FORMATS,
    DEFAULT_ALPHA,
    DEFAULT_METRICS,
    DEFAULT_THRESHOLD,
    METRICS,
    CompareSettings,
    Side,
    parse_metrics,
)
from fetchbench.errors import EXIT_OK, UsageError
from fetchbench.export import EXPORT_KINDS, check_export

if TYPE_CHECKING:
    import pandas as pd

    from fetchbench.options import RunOptions


VERDICT_HELP = f"""\
verdicts, per run (strategy, workers, cpus) and metric, on the medians over rounds:
  no change   the change is within --threshold (default {DEFAULT_THRESHOLD:g}%)
  faster      beyond it, better, and (with 3+ rounds on both sides) significant:
              two-sided Mann-Whitney U over the per-round values, p < --alpha
              (default {DEFAULT_ALPHA:g}); with fewer rounds the threshold alone decides
  slower      the same, worse: a regression; it fails when its metric is in --fail-on
  noise       beyond the threshold but not significant
  n/a         a side has no value (no successful request)

metrics (--metric, --fail-on):
{chr(10).join(f"  {m.name:<11} {m.unit}, {'bigger' if m.bigger_is_better else 'smaller'} is better" for m in METRICS.values())}

exit statuses: 0 no regression that counts, 1 a regression that counts,
2 unusable input (unreadable file, different schema, no runs in common)
"""


def add_judging_arguments(group: Any) -> None:
    """--threshold, --alpha, --metric and --fail-on (compare, and a run with --compare)."""
    group.add_argument("--threshold", default=None, metavar="PCT",
                       help=f"smallest change that counts, in percent, e.g. 10 or 10%% "
                            f"(default: {DEFAULT_THRESHOLD:g}%%)")
    group.add_argument("--alpha", default=None, metavar="P",
                       help=f"significance level of the Mann-Whitney U test, used when both "
                            f"sides have 3+ rounds (default: {DEFAULT_ALPHA:g})")
    group.add_argument("--metric", default=None, metavar="LIST",
                       help=f"metrics to judge, comma list of {', '.join(METRICS)} "
                            f"(default: {','.join(DEFAULT_METRICS)})")
    group.add_argument("--fail-on", default=None, metavar="LIST",
                       help="metrics whose regressions fail (exit 1): a comma list of judged "
                            "metrics, or 'none' (default: every judged metric)")


def add_export_argument(group: Any) -> None:
    """--export KIND FILE, repeatable."""
    group.add_argument("--export", nargs=2, action="append", default=None,
                       metavar=("KIND", "FILE"),
                       help="also write FILE for another tool; KIND: "
                            + "; ".join(f"{k} ({v})" for k, v in EXPORT_KINDS.items()))


def settings_from(ns: argparse.Namespace) -> CompareSettings:
    """Validated CompareSettings from parsed judging arguments."""
    metrics = DEFAULT_METRICS if ns.metric is None else parse_metrics(ns.metric, "--metric")
    fail_on: tuple[str, ...] | None = None
    if ns.fail_on is not None:
        fail_on = () if ns.fail_on.strip().lower() == "none" else parse_metrics(
            ns.fail_on, "--fail-on")
        unjudged = [m for m in fail_on if m not in metrics]
        if unjudged:
            raise UsageError(f"--fail-on: '{unjudged[0]}' is not judged; add it to --metric")
    threshold = DEFAULT_THRESHOLD if ns.threshold is None else _percent(ns.threshold)
    alpha = DEFAULT_ALPHA if ns.alpha is None else _alpha(ns.alpha)
    return CompareSettings(metrics, fail_on, threshold, alpha)


def exports_from(ns: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    """The validated (kind, file) pairs of every --export."""
    return tuple(check_export(kind, path) for kind, path in ns.export or ())


# the judging flags: on a run they need --compare
JUDGING_FLAGS = ("--threshold", "--alpha", "--metric", "--fail-on", "--compare-format")


def add_run_compare_arguments(parser: argparse.ArgumentParser, output_group: Any) -> None:
    """The run's --export (in its output group) and its "compare with a baseline" group."""
    add_export_argument(output_group)
    group = parser.add_argument_group(
        "compare with a baseline (CI)",
        "after saving and printing, judge this run against BASE.json like `fetchbench "
        "compare` does, with the same exit statuses (see `fetchbench compare --help`)",
    )
    group.add_argument("--compare", metavar="BASE.json",
                       help="a saved run to compare this one with (checked before measuring)")
    group.add_argument("--compare-format", default=None, choices=COMPARE_FORMATS,
                       help="format of the comparison (default: --format when that is table "
                            "or markdown, else table)")
    add_judging_arguments(group)


def run_compare_options(ns: argparse.Namespace, args: Sequence[str]) -> dict[str, Any]:
    """The RunOptions fields of --compare, the judging flags and --export."""
    if ns.compare is None:
        reject_flags(args, JUDGING_FLAGS, "with --compare BASE.json")
    compare_format = ns.compare_format or (
        ns.format if ns.format in ("table", "markdown") else "table")
    return {
        "compare": ns.compare,
        "compare_format": compare_format,
        "judge": settings_from(ns),
        "exports": exports_from(ns),
    }


def _percent(text: str) -> float:
    raw = text.strip().removesuffix("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"--threshold: not a percentage: '{text}'") from None
    if not 0 <= value < 1000:
        raise UsageError(f"--threshold: must be between 0 and 1000 percent, got {text}")
    return value


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--alpha: not a number: '{text}'") from None
    if not 0 < value < 1:
        raise UsageError(f"--alpha: must be between 0 and 1, got {text}")
    return value


# -- the subcommand -------------------------------------------------------------


def compare_parser() -> Parser:
    """The parser of ``fetchbench compare``."""
    parser = Parser(
        prog="fetchbench compare",
        description="Compare two saved runs (BASE, then CURRENT) and fail on a real regression.",
        epilog=VERDICT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("base", metavar="BASE.json", help="the baseline results file")
    parser.add_argument("current", metavar="CURRENT.json", help="the results file to judge")
    add_judging_arguments(parser)
    parser.add_argument("-f", "--format", default="table", choices=COMPARE_FORMATS,
                        help="table, markdown (for a CI job summary or PR comment) or json "
                             "(default: table)")
    add_export_argument(parser)
    return parser


def compare_command(args: list[str]) -> int:
    """``fetchbench compare BASE CURRENT``: print the comparison; 1 on a regression that counts."""
    ns = compare_parser().parse_args(args)
    settings = settings_from(ns)
    exports = exports_from(ns)
    base, current = load_side(ns.base), load_side(ns.current)
    status = judge_and_print(base, current, settings, ns.format)
    if exports:
        from fetchbench.export import write_exports

        write_exports(exports, current.summary, current.meta)
    return status


def load_side(path: str) -> Side:
    """A results file as a comparison side (InputError, exit 2, if unusable).

    Only the JSON is read: its stored summary has every round, so a missing
    records CSV is no reason for a warning here.
    """
    from fetchbench.results import load_results

    return Side.from_results(load_results(path), path)


def judge_and_print(base: Side, current: Side, settings: CompareSettings, fmt: str) -> int:
    """Compare, print the result on stdout and the verdict line on stderr; the exit status."""
    from fetchbench.compare import compare
    from fetchbench.compare_render import render_compare, status_line

    result = compare(base, current, settings)
    _warn(result.warnings)
    print(render_compare(result, fmt), end="")
    print(f"fetchbench: compare: {status_line(result)}", file=sys.stderr)
    return result.exit_status


def export_and_compare(
    options: RunOptions,
    base: Side | None,
    summary: pd.DataFrame,
    writer: Any,
    targets: dict[str, Any],
) -> int:
    """After a run is saved and printed: write its --export files, then judge it
    against the --compare baseline (if any); the run's exit status."""
    meta = run_meta(options, writer, targets)
    if options.exports:
        from fetchbench.export import write_exports

        write_exports(options.exports, summary, meta)
    if base is None:
        return EXIT_OK
    print()
    return judge_and_print(base, Side("this run", summary, meta), options.judge,
                           options.compare_format)


def run_meta(options: RunOptions, writer: Any, targets: dict[str, Any]) -> dict[str, Any]:
    """What a results file would say about this run (saved or not), for compare and export."""
    from fetchbench.results import SCHEMA_VERSION, machine_info

    machine = getattr(writer, "machine", None) or machine_info()
    return {
        "schema_version": SCHEMA_VERSION,
        "created": getattr(writer, "created", None),
        "complete": True,
        "machine": machine,
        "options": options.as_dict(),
        "targets": targets,
    }


def _warn(lines: Sequence[str]) -> None:
    for line in lines:
        print(f"fetchbench: warning: {line}", file=sys.stderr)
