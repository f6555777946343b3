"""Command line: parse and validate options, dispatch, map errors to exit statuses.

No measuring happens here. Heavy modules (pandas, requests, gevent) are
imported only by the command that needs them, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from fetchbench import __version__
from fetchbench.errors import EXIT_INTERRUPTED, FetchbenchError, UsageError
from fetchbench.options import (
    CLIENTS,
    DEFAULT_COUNT,
    DEFAULT_DELAY,
    DEFAULT_SEED,
    DEFAULT_SIZE,
    FORMATS,
    GEVENT_CLIENTS,
    RunOptions,
)

SUBCOMMANDS = ("serve", "show", "plan", "plot", "report", "compare")

DESCRIPTION = """\
Benchmark concurrent URL fetching: serial, process, thread, gevent-spawn and
gevent-pool (and asyncio, process-gevent, process-asyncio, dask) on the same
URL list, side by side, each run in a fresh interpreter pinned to its CPUs.
With no URLS_FILE, fetchbench starts its own HTTP server on 127.0.0.1 and
fetches a built-in mix.
"""

EPILOG = """\
other commands:
  fetchbench serve [--host H] [--port P]   run the embedded test server
  fetchbench show RESULTS.json             print the tables of a saved run
  fetchbench compare BASE.json CURRENT.json
                                           judge CURRENT against BASE; exit 1 on a
                                           regression that counts
  fetchbench plan RESULTS.json --target-rps R [--p99-ms L]
                                           which configuration reaches R req/s
  fetchbench plot RESULTS.json -o DIR      draw the PNG plots of a saved run
  fetchbench report RESULTS.json -o FILE   one self-contained HTML report

exit statuses: 0 ok, 1 regression found, 2 usage or input error, 130 interrupted
"""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit status 2.

    Flags must be spelled out: with argparse's prefix matching, ``--thr 5``
    meant ``--threshold 5`` and slipped past the checks of which flags go
    together (``flags_given`` looks for the full names).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def flags_given(args: Sequence[str], flags: Sequence[str]) -> list[str]:
    """Which of ``flags`` appear on the command line (``--flag V`` or ``--flag=V``),
    for options that apply only together with another. Nothing after ``--`` is a flag."""
    options = args[:args.index("--")] if "--" in args else args
    present = {a.split("=", 1)[0] for a in options}
    return [f for f in flags if f in present]


def reject_flags(args: Sequence[str], flags: Sequence[str], where: str) -> None:
    """The usage error for flags used where they do not apply: call it when they do not.

    Names the first of ``flags`` (in their order) found on the command line:
    ``--loop: applies only to the asyncio and process-asyncio strategies`` for
    ``where="to the asyncio and process-asyncio strategies"``. Nothing if none is given.
    """
    given = flags_given(args, flags)
    if given:
        raise UsageError(f"{given[0]}: applies only {where}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fetchbench`` command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = _command_for(args)
        return command(args[1:] if args and args[0] in SUBCOMMANDS else args)
    except FetchbenchError as exc:
        print(f"fetchbench: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("fetchbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): not an error of ours
        sys.stderr.close()
        return 0


def _command_for(args: list[str]) -> Callable[[list[str]], int]:
    if args and args[0] == "serve":
        return serve_command
    if args and args[0] == "show":
        return show_command
    if args and args[0] == "compare":
        from fetchbench.compare_cli import compare_command

        return compare_command
    if args and args[0] in ("plan", "plot", "report"):
        return _capacity_command(args[0])
    return run_command


def _capacity_command(name: str) -> Callable[[list[str]], int]:
    """The plan / plot / report command, imported only when asked for."""
    if name == "plan":
        from fetchbench.plan import plan_command

        return plan_command
    if name == "plot":
        from fetchbench.plot import plot_command

        return plot_command
    from fetchbench.html_report import report_command

    return report_command


# -- run ---------------------------------------------------------------------


def run_parser() -> Parser:
    """The parser of the main command (also the one ``--help`` shows)."""
    parser = Parser(
        prog="fetchbench",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("urls_file", nargs="?", metavar="URLS_FILE",
                        help="one http(s) URL per line; '#' comments and blank lines skipped")
    parser.add_argument("--version", action="version", version=f"fetchbench {__version__}")
    what = parser.add_argument_group("what to run")
    what.add_argument("-s", "--strategy", default="all", metavar="LIST",
                      help="'all', 'every' or a comma list of serial, process, thread, "
                           "gevent-spawn, gevent-pool, asyncio, process-gevent, "
                           "process-asyncio, dask; 'all' = the installed ones but dask, "
                           "'every' = all installed (default: all)")
    what.add_argument("-w", "--workers", metavar="LIST",
                      help="pool size(s) for every strategy but serial and gevent-spawn (a "
                           "total over the processes or cluster for process-gevent, "
                           "process-asyncio and dask), e.g. 20 or 1,8,64 or 1..64x2 (default: "
                           "process = CPUs of the run, the others = 20)")
    what.add_argument("-c", "--cpus", metavar="LIST",
                      help="CPU counts to pin each run to, e.g. 1,2 (default: all available)")
    what.add_argument("--repeat", type=int, default=1, metavar="K",
                      help="recorded rounds of every run, interleaved (default: 1)")
    what.add_argument("--warmup", type=int, default=0, metavar="W",
                      help="unrecorded rounds before them (default: 0)")
    from fetchbench.strategy_cli import add_strategy_arguments

    add_strategy_arguments(what)
    fetch = parser.add_argument_group("how to fetch")
    fetch.add_argument("--timeout", default="10", metavar="SECONDS",
                       help="per connect/read timeout, e.g. 10 or 500ms (default: 10 s)")
    fetch.add_argument("--max-bytes", default="100MiB", metavar="SIZE",
                       help="body size beyond which a request is 'too_large' (default: 100MiB)")
    fetch.add_argument("--max-time", metavar="SECONDS",
                       help="bound on one strategy run; URLs not started by then are "
                            "recorded as 'not_run' (default: none)")
    fetch.add_argument("--no-keepalive", action="store_true",
                       help="a new connection for every request")
    fetch.add_argument("--client", default="requests", choices=CLIENTS,
                       help="HTTP client of every worker: a requests.Session, a urllib3 "
                            "pool used directly (faster), or geventhttpclient (gevent "
                            "strategies only) (default: requests)")
    embedded = parser.add_argument_group("embedded targets (no URLS_FILE)")
    # defaults as a user would type them, from options.DEFAULT_*; parsed like typed ones
    embedded.add_argument("--urls", default=str(DEFAULT_COUNT), metavar="N",
                          help="number of URLs in the built-in mix (default: %(default)s)")
    embedded.add_argument("--delay", default=_range_text(DEFAULT_DELAY, _duration_text),
                          metavar="D|LO..HI",
                          help="server delay per URL, fixed or a uniform range "
                               "(default: %(default)s)")
    embedded.add_argument("--size", default=_range_text(DEFAULT_SIZE, _size_text),
                          metavar="B|LO..HI",
                          help="body size per URL, fixed or a log-uniform range "
                               "(default: %(default)s)")
    embedded.add_argument("--seed", default=str(DEFAULT_SEED), metavar="N",
                          help="seed of the mix, so two runs fetch the same list "
                               "(default: %(default)s)")
    out = parser.add_argument_group("output")
    out.add_argument("-f", "--format", default="table", choices=FORMATS,
                     help="what to print on stdout (default: table)")
    out.add_argument("-o", "--output", default="results", metavar="DIR",
                     help="where results are saved (default: ./results)")
    out.add_argument("--no-save", action="store_true", help="do not save results")
    from fetchbench.compare_cli import add_run_compare_arguments

    add_run_compare_arguments(parser, out)
    out.add_argument("--plot", metavar="DIR",
                     help="after saving, draw the PNG plots of the results into DIR")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parser


def _range_text(pair: tuple[Any, Any], text: Callable[[Any], str]) -> str:
    """``(low, high)`` as --delay and --size read it: ``low..high``, or one value."""
    low, high = pair
    return text(low) if low == high else f"{text(low)}..{text(high)}"


def _duration_text(seconds: float) -> str:
    """Seconds as --delay reads them: ``0``, ``100ms``, ``2s`` (never a bare number but 0)."""
    if seconds == 0:
        return "0"
    if seconds < 1:
        return f"{round(seconds * 1000, 6):g}ms"
    return f"{seconds:g}s"


def _size_text(nbytes: int) -> str:
    """Bytes as --size reads them, in the largest binary unit that divides them: ``256KiB``.

    Never a bare number but 0: in ``LO..HI`` a bare low end takes the high end's unit.
    """
    if nbytes == 0:
        return "0"
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes % factor == 0:
            return f"{nbytes // factor}{unit}"
    return f"{nbytes}B"


def run_command(args: list[str]) -> int:
    """``fetchbench [URLS_FILE] [options]``: measure, save, print."""
    options = parse_run_options(args)
    import signal
    import threading

    from fetchbench.benchmark import run_benchmark

    if threading.current_thread() is threading.main_thread():
        # a CI job cancelled with SIGTERM saves what finished, like Ctrl-C does
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    return run_benchmark(options)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parse_run_options(args: Sequence[str]) -> RunOptions:
    """Turn the command line into validated RunOptions (or raise UsageError)."""
    ns = run_parser().parse_args(args)  # first: --help exits here, before the imports below
    from fetchbench import targets
    from fetchbench.compare_cli import run_compare_options

    if ns.urls_file is not None:
        reject_flags(args, ("--delay", "--seed", "--size", "--urls"),
                     "to the embedded targets (no URLS_FILE)")
    available = len(os.sched_getaffinity(0))
    cpus = (
        tuple(targets.parse_int_list(ns.cpus, "--cpus")) if ns.cpus else (available,)
    )
    if max(cpus) > available:
        raise UsageError(f"--cpus: asked for {max(cpus)} CPUs but only {available} are available")
    delay = targets.parse_range(
        ns.delay, lambda t: targets.parse_duration(t, "--delay"), option="--delay")
    size = targets.parse_range(
        ns.size, lambda t: targets.parse_size(t, "--size"), option="--size")
    _within_server_limits(delay, size)
    max_time = None if ns.max_time is None else _positive(
        targets.parse_duration(ns.max_time, "--max-time"), "--max-time")
    from fetchbench.strategy_cli import strategy_options

    strategies = parse_strategies(ns.strategy)
    return RunOptions(
        urls_file=ns.urls_file,
        strategies=strategies,
        **strategy_options(ns, args, strategies),
        workers=tuple(targets.parse_int_list(ns.workers, "--workers")) if ns.workers else None,
        cpus=cpus,
        repeat=_at_least(ns.repeat, 1, "--repeat"),
        warmup=_at_least(ns.warmup, 0, "--warmup"),
        timeout=_positive(targets.parse_duration(ns.timeout, "--timeout"), "--timeout"),
        max_bytes=int(_positive(targets.parse_size(ns.max_bytes, "--max-bytes"), "--max-bytes")),
        max_time=max_time,
        keepalive=not ns.no_keepalive,
        client=_client(ns.client, strategies),
        url_count=_at_least(_int(ns.urls, "--urls"), 1, "--urls"),
        delay=delay,
        size=size,
        seed=_int(ns.seed, "--seed"),
        output_format=ns.format,
        output_dir=ns.output,
        save=not ns.no_save,
        quiet=ns.quiet,
        plot_dir=_plot_dir(ns.plot, ns.no_save),
        **run_compare_options(ns, args),
    )


def _client(name: str, strategies: Sequence[str]) -> str:
    """--client: a gevent-only client needs gevent strategies, and must be installed."""
    if name not in GEVENT_CLIENTS:
        return name
    others = [s for s in strategies if "gevent" not in s]
    if others:
        raise UsageError(f"--client {name}: only for the gevent strategies, not {others[0]}")
    import importlib.util

    if importlib.util.find_spec(name) is None:
        raise UsageError(f"--client {name}: not installed (pip install 'fetchbench[fast]')")
    return name


def _plot_dir(plot: str | None, no_save: bool) -> str | None:
    if plot is not None and no_save:
        raise UsageError("--plot: needs saved results; drop --no-save")
    return plot


def parse_strategies(text: str) -> tuple[str, ...]:
    """'all', 'every' or a comma list of known names; suggests the nearest on a typo."""
    from fetchbench.strategies import ALL, STRATEGIES
    from fetchbench.strategy_cli import GROUPS, expand

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--strategy: give 'all', 'every' or a comma list of strategies")
    chosen: list[str] = []
    for name in names:
        if name not in STRATEGIES and name not in GROUPS:
            import difflib

            near = difflib.get_close_matches(name, [*STRATEGIES, *GROUPS], n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else f" (known: {', '.join(ALL)})"
            raise UsageError(f"--strategy: unknown strategy {name!r}{hint}")  # repr: one line
        chosen.extend(expand(name))
    return tuple(dict.fromkeys(chosen))


def _within_server_limits(delay: tuple[float, float], size: tuple[int, int]) -> None:
    """The embedded server refuses more than this per request; say so up front."""
    from fetchbench.server_params import MAX_BYTES, MAX_SECONDS

    if delay[1] > MAX_SECONDS:
        raise UsageError(f"--delay: the embedded server waits at most {MAX_SECONDS:g} s")
    if size[1] > MAX_BYTES:
        raise UsageError(f"--size: the embedded server sends at most {MAX_BYTES >> 30} GiB")


def _int(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{option}: not an integer: '{text}'") from None


def _at_least(value: int, low: int, option: str) -> int:
    if value < low:
        raise UsageError(f"{option}: must be at least {low}, got {value}")
    return value


def _positive(value: float, option: str) -> float:
    if value <= 0:
        raise UsageError(f"{option}: must be greater than zero")
    return value


# -- serve, show ---------------------------------------------------------------


def serve_command(args: list[str]) -> int:
    """``fetchbench serve``: the embedded server in the foreground."""
    from fetchbench.server import add_address_arguments, run_foreground

    parser = Parser(prog="fetchbench serve",
                    description="Run the embedded HTTP test server until Ctrl-C.")
    add_address_arguments(parser)
    ns = parser.parse_args(args)

    return run_foreground(ns.host, ns.port)


def show_command(args: list[str]) -> int:
    """``fetchbench show FILE``: the tables of a saved run, never re-measured."""
    parser = Parser(prog="fetchbench show", description="Print the tables of a saved run.")
    parser.add_argument("file", metavar="RESULTS.json")
    parser.add_argument("-f", "--format", default="table", choices=FORMATS)
    from fetchbench.compare_cli import add_export_argument, exports_from

    add_export_argument(parser)
    ns = parser.parse_args(args)
    exports = exports_from(ns)
    from fetchbench.report import render
    from fetchbench.results import load_results

    results = load_results(ns.file)
    print(render(results.summary, ns.format).rstrip("\n"))
    if exports:
        from fetchbench.export import write_exports

        write_exports(exports, results.summary, results.meta)
    return 0
