"""CPU per request, one request at a time: fetchbench's fetch + emit against the minimal loop's get.

No concurrency and no parent: a ``Fetcher`` (with an ``Emitter`` writing its
frames to /dev/null, as a worker child writes them to the parent) and the
minimal loop of ``benchmarks/baselines.py`` take turns fetching the same
zero-delay 1 KiB URLs from the embedded server, and the process CPU time of
each pass is divided by its requests. What differs is the tool's own
per-request work (record, emit, the client wrapper), on the same client::

    python benchmarks/request_cpu.py geventhttpclient --reps 5 --urls 3000

gevent is patched first (as in a gevent worker child), so all three clients
can be measured in one interpreter. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baselines  # noqa: E402
import run  # noqa: E402  (benchmarks/run.py: alternate; it puts the checkout on sys.path)

from fetchbench.fetch import CLIENTS, FetchConfig, Fetcher, RunLabel  # noqa: E402
from fetchbench.record import ROW  # noqa: E402
from fetchbench.server_process import EmbeddedServer  # noqa: E402  (no loop: gevent is in)
from fetchbench.worker import Emitter  # noqa: E402


def tool_pass(urls: list[str], client: str, sink: int) -> float:
    """CPU µs per request of Fetcher.fetch + emit over ``urls``."""
    fetcher = Fetcher(FetchConfig(client=client), RunLabel("serial", 1, 1, 1, time.perf_counter()))
    emit = Emitter(sink, len(urls), ROW, threads=False)
    began = time.process_time()
    for index, url in enumerate(urls):
        emit(fetcher.fetch(index, url))
    emit.flush()
    spent = time.process_time() - began
    fetcher.close()
    return spent / len(urls) * 1e6


def loop_pass(urls: list[str], client: str) -> float:
    """CPU µs per request of the minimal loop's get over ``urls``."""
    get = baselines.make_get(client)
    began = time.process_time()
    baselines.loop(get, urls, baselines.Span())
    return (time.process_time() - began) / len(urls) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client", choices=CLIENTS)
    parser.add_argument("--reps", type=int, default=5, help="passes of each (default 5)")
    parser.add_argument("--urls", type=int, default=3000, help="requests per pass (default 3000)")
    args = parser.parse_args(argv)
    tool, loop = [], []
    with EmbeddedServer() as server, open(os.devnull, "wb") as devnull:
        urls = [server.url(f"/cpu/{i}", bytes=1024) for i in range(args.urls)]
        both = [("tool", lambda: tool_pass(urls, args.client, devnull.fileno())),
                ("loop", lambda: loop_pass(urls, args.client))]
        for rep in range(args.reps):  # which goes first alternates
            got = run.alternate(both, rep)
            tool.append(got["tool"])
            loop.append(got["loop"])
    print(f"{args.client}, {args.urls} sequential requests x {args.reps} passes, CPU µs/request")
    print(f"  fetchbench fetch + emit: median {statistics.median(tool):7.1f}  "
          f"{[round(v) for v in tool]}")
    print(f"  minimal loop get:        median {statistics.median(loop):7.1f}  "
          f"{[round(v) for v in loop]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
