"""CPU per GET through the requests client for path-less URLs with a query.

``http://HOST:PORT?bytes=10&n=I``: every URL distinct, one origin. fetchbench's
requests client reads the environment's settings once per origin; this shows
whether such URLs hit that cache. Sequential GETs, one client, the embedded
server; process CPU per GET, median of the passes::

    python benchmarks/origin_cache.py
    # another commit's fetchbench, e.g. before the origin fix (96ab0d5):
    git worktree add /tmp/old 31aa8d2 && PYTHONPATH=/tmp/old python benchmarks/origin_cache.py

It imports fetchbench from PYTHONPATH or the installed package, never adds the
checkout itself. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import statistics
import time

import fetchbench
from fetchbench.fetch import FetchConfig, RequestsClient
from fetchbench.server_process import EmbeddedServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=1500, help="GETs per pass (default 1500)")
    parser.add_argument("--reps", type=int, default=3, help="passes (default 3)")
    args = parser.parse_args(argv)
    per_get = []
    with EmbeddedServer() as server:
        urls = [f"{server.base_url}?bytes=10&n={i}" for i in range(args.urls)]
        for _ in range(args.reps):
            client = RequestsClient(FetchConfig())
            began = time.process_time()
            for url in urls:
                client.get(url)
            per_get.append((time.process_time() - began) / len(urls) * 1e6)
            client.close()
    print(f"fetchbench from {fetchbench.__file__}")
    print(f"{args.urls} GETs of BASE?bytes=10&n=I x {args.reps}: CPU µs per GET "
          f"{[round(v) for v in per_get]}, median {statistics.median(per_get):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
