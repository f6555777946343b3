"""One strategy and client, fetchbench against its minimal loop, in alternating pairs.

Target 2 of ``benchmarks/run.py`` for a single row, with more repetitions and a
longer list, and with the tool's own figures per run: the child's CPU per
request, the time in its ``emit`` per record, the parent's per record. It is
how the changes in benchmarks/README.md were checked one at a time (run it on
the commit before and after a change; differences under ~5 % need several
runs on these shared machines)::

    python benchmarks/pair.py gevent-pool geventhttpclient --reps 8 --urls 8000

Only 127.0.0.1 is contacted (the embedded server, zero delay, 1 KiB bodies).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (benchmarks/run.py: workers_for, tool_and_loop)


def main(argv: list[str] | None = None) -> int:
    """Print one line per pair and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("strategy", choices=run.STRATEGIES)
    parser.add_argument("client", choices=run.CLIENTS)
    parser.add_argument("--reps", type=int, default=5, help="pairs (default 5)")
    parser.add_argument("--urls", type=int, default=2000, help="list length (default 2000)")
    parser.add_argument("--workers", type=int, default=10,
                        help="concurrency (default 10; serial 1, gevent-spawn one per URL)")
    args = parser.parse_args(argv)
    workers = run.workers_for(args.strategy, args.workers, args.urls)
    ratios, cpu_ratios = [], []
    with run.EmbeddedServer() as server, tempfile.TemporaryDirectory() as workdir:
        urls = [server.url(f"/pair/{i}", bytes=1024) for i in range(args.urls)]
        for rep in range(args.reps):
            tool, loop = run.tool_and_loop(Path(workdir), urls, args.strategy, workers,
                                           args.client, rep)
            overhead = tool.probe.get("overhead", {})
            ratios.append(tool.req_per_s / loop.req_per_s)
            cpu_ratios.append(tool.cpu_ms_per_req / loop.cpu_ms_per_req)
            print(f"{rep + 1}: fetchbench {tool.req_per_s:7.0f} req/s, loop {loop.req_per_s:7.0f}"
                  f" -> {ratios[-1]:.3f}; CPU/req {1000 * tool.cpu_ms_per_req:.0f} vs "
                  f"{1000 * loop.cpu_ms_per_req:.0f} us (child "
                  f"{1e6 * tool.probe['cpu_run_s'] / args.urls:.0f}); emit "
                  f"{overhead.get('emit_us_mean')} us, parent "
                  f"{overhead.get('parent_us_per_record')} us per record", flush=True)
    print(f"{args.strategy} ({args.client}), {args.urls} URLs, {args.reps} pairs: median "
          f"{statistics.median(ratios):.3f} of the loop's throughput, CPU/req x"
          f"{statistics.median(cpu_ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
