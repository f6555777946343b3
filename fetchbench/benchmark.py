"""The main pipeline, visible in one place: targets → plan → runner → results → report."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fetchbench.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError
from fetchbench.options import RunOptions

if TYPE_CHECKING:
    from fetchbench.compare import Side
    from fetchbench.results import NullWriter, ResultsWriter


def run_benchmark(options: RunOptions) -> int:
    """Measure every planned run, save as we go, print the tables (and plot, if asked)."""
    from fetchbench import targets
    from fetchbench.progress import progress_factory
    from fetchbench.report import render
    from fetchbench.runner import FetchOptions, Interrupted, Runner, build_plan
    from fetchbench.strategies import STRATEGIES

    file_urls = None if options.embedded else targets.load_url_file(options.urls_file or "")
    base = _compare_base(options)  # an unusable baseline fails before anything is measured
    with _targets(options, file_urls) as (urls, target_info):
        writer = _writer(options, target_info)
        plan = build_plan(
            [STRATEGIES[name] for name in options.strategies],
            options.workers, options.cpus, options.repeat, options.warmup, len(urls),
        )
        fetch_options = FetchOptions(
            options.timeout, options.max_bytes, options.keepalive, options.max_time,
            options.client, loop=options.loop, scheduler=options.scheduler,
        )
        runner = Runner(urls, fetch_options, writer, progress_factory(len(urls), options.quiet))
        try:
            runner.run(plan)
        except (Interrupted, KeyboardInterrupt) as stop:
            at = stop.where if isinstance(stop, Interrupted) else "between runs"
            path = writer.close(complete=False, interrupted_at=at)
            if writer.runs:  # what finished, with the cut-off run starred
                print(render(writer.summary(), options.output_format).rstrip("\n"))
            where = f"; finished runs saved to {path}" if options.save else ""
            print(f"fetchbench: interrupted during {at}{where}", file=sys.stderr)
            return EXIT_INTERRUPTED
        path = writer.close(complete=True)
    summary = writer.summary()
    print(render(summary, options.output_format).rstrip("\n"))
    if options.save and not options.quiet:
        print(f"fetchbench: results saved to {path}", file=sys.stderr)
    if options.plot_dir is not None and path is not None:
        from fetchbench.plot import plot_results

        for drawn in plot_results(path, options.plot_dir):
            if not options.quiet:
                print(f"fetchbench: plot saved to {drawn}", file=sys.stderr)
    if options.exports or base is not None:
        from fetchbench.compare_cli import export_and_compare

        return export_and_compare(options, base, summary, writer, target_info)
    return EXIT_OK


def _writer(options: RunOptions, target_info: dict) -> ResultsWriter | NullWriter:
    """Where results go; an unusable --output fails here, before anything is measured."""
    from fetchbench.results import NullWriter, ResultsWriter

    if not options.save:
        return NullWriter(options=options.as_dict(), targets=target_info)
    try:
        return ResultsWriter(options.output_dir, options=options.as_dict(), targets=target_info)
    except UsageError as exc:
        message = str(exc)
        raise UsageError(message if message.startswith("--output") else f"--output: {message}") \
            from None


def _compare_base(options: RunOptions) -> Side | None:
    """The --compare baseline, loaded (and checked) up front; None without --compare."""
    if options.compare is None:
        return None
    from fetchbench.compare_cli import load_side

    return load_side(options.compare)


@contextlib.contextmanager
def _targets(options: RunOptions, file_urls: list[str] | None) -> Iterator[tuple[list[str], dict]]:
    """The URL list, with the embedded server running around it when needed."""
    if file_urls is not None:
        yield file_urls, {"source": options.urls_file, "count": len(file_urls)}
        return
    from fetchbench.server import EmbeddedServer
    from fetchbench.targets import embedded_mix

    with EmbeddedServer() as server:
        urls = embedded_mix(server.base_url, options.url_count, options.delay,
                            options.size, options.seed)
        yield urls, {
            "source": "embedded",
            "count": len(urls),
            "delay": list(options.delay),
            "size": list(options.size),
            "seed": options.seed,
        }
