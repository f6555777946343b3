"""The fetchbench command of a past commit against the working tree, on the same list.

``python benchmarks/before_after.py [REV] [--urls N] [--reps K] [--strategies A,B,...]
[--delay S] [--workers W] [--client C]`` extracts ``fetchbench/`` of REV
(default HEAD) with ``git archive`` into a temporary directory
(``run.checkout_package``), then runs ``python -m fetchbench`` from there and
from this checkout, each put first on ``PYTHONPATH`` (so neither side is
whatever fetchbench happens to be installed), alternately, on one 1 KiB list
served by the embedded server (default: zero delay, 10 workers, requests, the
five classic strategies), and prints per strategy the median throughput of
each and the CPU of the whole command (parent and child, start-up included,
which both pay alike). E.g. target 1's process row, before and after a
change::

    python benchmarks/before_after.py 4de7727 --strategies process --urls 500 \
        --delay 0.1 --workers 50 --reps 5

Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # noqa: E402  (benchmarks/run.py, which puts the checkout on sys.path)
    ROOT,
    STRATEGIES,
    EmbeddedServer,
    alternate,
    checkout_package,
    cpu_seconds,
    fetchbench_command,
    write_urls,
)


def run(code: Path, urls_file: Path, strategy: str, out: Path,
        args: argparse.Namespace) -> tuple[float, float]:
    """(req/s, CPU seconds) of one ``fetchbench`` command, with ``code`` (holding fetchbench/)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    before = cpu_seconds(resource.RUSAGE_CHILDREN)
    command = fetchbench_command(urls_file, [strategy], out, "-w", str(args.workers),
                                 "--client", args.client)
    done = subprocess.run(command,
                          capture_output=True, text=True, env=env, cwd=out, timeout=600,
                          check=True)
    return json.loads(done.stdout)[0]["req_per_s"], cpu_seconds(resource.RUSAGE_CHILDREN) - before


def main() -> int:
    """Alternate old and new, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", nargs="?", default="HEAD", help="the past commit (default HEAD)")
    parser.add_argument("--urls", type=int, default=2000, help="list length (default 2000)")
    parser.add_argument("--reps", type=int, default=3,
                        help="alternating repetitions per strategy (default 3)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help=f"comma-separated (default {','.join(STRATEGIES)})")
    parser.add_argument("--delay", type=float, default=0.0, help="server delay, s (default 0)")
    parser.add_argument("--workers", type=int, default=10, help="-w (default 10)")
    parser.add_argument("--client", default="requests", help="--client (default requests)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedServer() as server:
        old = checkout_package(args.rev, Path(tmp) / "old")
        urls_file = write_urls(Path(tmp), "urls",
                               (server.url(f"/ba/{i}", delay=args.delay, bytes=1024)
                                for i in range(args.urls)))
        print(f"{args.urls} URLs, delay {args.delay:g} s, 1 KiB, {args.workers} workers, "
              f"{args.client}; "
              f"{args.reps} alternating repetitions; median req/s and command CPU s")
        print(f"{'strategy':13} {args.rev + ' req/s':>14} {'now req/s':>10} {'ratio':>7} "
              f"{args.rev + ' cpu':>12} {'now cpu':>8}")
        for strategy in args.strategies.split(","):
            got: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
            both = [(name, lambda code=code, s=strategy: run(code, urls_file, s, Path(tmp), args))
                    for name, code in (("old", old), ("new", ROOT))]
            for rep in range(args.reps):
                for name, figures in alternate(both, rep).items():
                    got[name].append(figures)
            med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
                   for k, v in got.items()}
            ratio = statistics.median(n[0] / o[0] for o, n in zip(got["old"], got["new"],
                                                                  strict=True))
            print(f"{strategy:13} {med['old'][0]:14.0f} {med['new'][0]:10.0f} {ratio:7.2f} "
                  f"{med['old'][1]:12.2f} {med['new'][1]:8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
