"""Minimal hand-written fetch loops: what each strategy costs without fetchbench.

The baseline of target 2 in ``benchmarks/run.py``. Each loop does what the
strategy of the same name does — the same HTTP client (one
``requests.Session`` or one ``urllib3.PoolManager(maxsize=1)`` per worker),
the same concurrency, the body streamed raw and counted — and nothing else
(geventhttpclient: one ``HTTPClient`` per worker, gevent loops only):
no records, no emitter, no pipe to a parent, no CSV. Like fetchbench, it runs
in a fresh interpreter and, for the gevent loops, monkey-patches first.

Run as a child: ``python benchmarks/baselines.py`` reads one JSON job on
stdin, ``{"strategy": ..., "workers": N, "client": "requests"|"urllib3",
"urls": [...]}``, and prints one JSON line: ``{"ok": n, "errors": n,
"makespan_s": s, "req_per_s": r, "cpu_run_s": c}``. The makespan is
fetchbench's: the first request's start to the last response's end (pool
start-up excluded); ``cpu_run_s`` is the CPU of the loop and its forked
workers, interpreter start-up and imports excluded (as fetchbench's probe).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CHUNK = 64 * 1024
TIMEOUT = 10.0

Get = Callable[[str], int]  # GET a URL, return its body length (raises on failure)


@dataclass
class Span:
    """One worker's tally: successes, failures, first start and last end."""

    ok: int = 0
    errors: int = 0
    first: float = float("inf")
    last: float = 0.0


def make_get(client: str) -> Get:
    """A GET function with its own connection (one per worker, as in fetchbench)."""
    if client == "requests":
        import requests

        session = requests.Session()
        session.trust_env = False  # fetchbench reads the environment once per origin

        def get_requests(url: str) -> int:
            with session.get(url, stream=True, timeout=TIMEOUT) as response:
                return sum(len(c) for c in response.raw.stream(CHUNK, decode_content=False))

        return get_requests
    if client == "geventhttpclient":
        from urllib.parse import urlsplit

        from geventhttpclient import HTTPClient

        hosts: dict[str, HTTPClient] = {}

        def get_gevent(url: str) -> int:
            parts = urlsplit(url)
            http = hosts.get(parts.netloc)
            if http is None:
                http = hosts[parts.netloc] = HTTPClient(
                    parts.hostname, parts.port, block_size=CHUNK, concurrency=1,
                    connection_timeout=TIMEOUT, network_timeout=TIMEOUT)
            response = http.get(f"{parts.path}?{parts.query}")
            count = sum(len(c) for c in iter(lambda: response.read(CHUNK), b""))
            response.release()
            return count

        return get_gevent
    import urllib3

    pool = urllib3.PoolManager(maxsize=1, retries=False, timeout=TIMEOUT)

    def get_urllib3(url: str) -> int:
        response = pool.urlopen("GET", url, preload_content=False, decode_content=False)
        count = sum(len(c) for c in response.stream(CHUNK, decode_content=False))
        response.release_conn()
        return count

    return get_urllib3


def loop(get: Get, urls, span: Span) -> Span:
    """Fetch every URL the iterator yields, tallying into ``span``."""
    clock = time.perf_counter
    for url in urls:
        begin = clock()
        try:
            get(url)
            span.ok += 1
        except Exception:  # noqa: BLE001 - a baseline counts failures, nothing more
            span.errors += 1
        span.last = clock()
        if begin < span.first:
            span.first = begin
    return span


def run_serial(urls: Sequence[str], workers: int, client: str) -> list[Span]:
    """One loop, one connection."""
    return [loop(make_get(client), urls, Span())]


def run_thread(urls: Sequence[str], workers: int, client: str) -> list[Span]:
    """``workers`` threads sharing one iterator (next() is atomic under the GIL)."""
    import threading

    shared = iter(urls)
    spans = [Span() for _ in range(workers)]
    gets = [make_get(client) for _ in range(workers)]
    go = threading.Event()  # all threads start together, as fetchbench's do

    def gated(get: Get, span: Span) -> None:
        go.wait()
        loop(get, shared, span)

    threads = [threading.Thread(target=gated, args=(g, s)) for g, s in zip(gets, spans, strict=True)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join()
    return spans


_WORKER_GET: Get | None = None  # each pool process's own connection


def _process_init(client: str) -> None:
    global _WORKER_GET
    _WORKER_GET = make_get(client)


def _process_one(url: str) -> tuple[bool, float, float]:
    assert _WORKER_GET is not None
    span = loop(_WORKER_GET, (url,), Span())
    return span.ok == 1, span.first, span.last


def run_process(urls: Sequence[str], workers: int, client: str) -> list[Span]:
    """``multiprocessing.Pool(workers)`` (fork), ``imap_unordered`` in chunks, a result per URL.

    The chunk size is fetchbench's (``strategies.process.chunk_size``): small
    enough to balance the load, as a hand-written pool would be tuned.
    """
    import multiprocessing

    chunk = max(1, min(8, len(urls) // (workers * 8)))
    span = Span()
    with multiprocessing.get_context("fork").Pool(workers, _process_init, (client,)) as pool:
        pool.map(time.sleep, [0.0] * workers, chunksize=1)  # started: not measured
        for ok, first, last in pool.imap_unordered(_process_one, urls, chunksize=chunk):
            span.ok += ok
            span.errors += not ok
            span.first, span.last = min(span.first, first), max(span.last, last)
    return [span]


def run_gevent_spawn(urls: Sequence[str], workers: int, client: str) -> list[Span]:
    """One greenlet and one connection per URL, all joined."""
    import gevent

    spans = [Span() for _ in urls]
    gevent.joinall([gevent.spawn(lambda u, s: loop(make_get(client), (u,), s), url, span)
                    for url, span in zip(urls, spans, strict=True)])
    return spans


def run_gevent_pool(urls: Sequence[str], workers: int, client: str) -> list[Span]:
    """``gevent.pool.Pool(workers)``: a greenlet per URL borrowing one of N connections."""
    from gevent.pool import Pool
    from gevent.queue import Queue

    idle: Queue = Queue()
    for _ in range(workers):
        idle.put((make_get(client), Span()))
    spans = [span for _, span in list(idle.queue)]

    def one(url: str) -> None:
        get, span = idle.get()
        try:
            loop(get, (url,), span)
        finally:
            idle.put((get, span))

    pool = Pool(workers)
    for url in urls:
        pool.spawn(one, url)
    pool.join()
    return spans


RUNS = {
    "serial": run_serial,
    "process": run_process,
    "thread": run_thread,
    "gevent-spawn": run_gevent_spawn,
    "gevent-pool": run_gevent_pool,
}


def cpu_seconds_with_children() -> float:
    """User + system CPU of this process and of the children it has reaped."""
    import resource

    own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


def main() -> int:
    """Read the job, run the loop, print the tally as one JSON line."""
    job = json.loads(sys.stdin.read())
    if job["strategy"].startswith("gevent"):
        from gevent import monkey

        monkey.patch_all()
    __import__(job["client"])  # imported once, before any fork, as fetchbench does
    cpu0 = cpu_seconds_with_children()
    spans = RUNS[job["strategy"]](job["urls"], job["workers"], job["client"])
    cpu = cpu_seconds_with_children() - cpu0
    ok = sum(s.ok for s in spans)
    makespan = max(s.last for s in spans) - min(s.first for s in spans)
    print(json.dumps({
        "ok": ok,
        "errors": sum(s.errors for s in spans),
        "makespan_s": makespan,
        "req_per_s": ok / makespan if makespan > 0 else 0.0,
        "cpu_run_s": cpu,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
