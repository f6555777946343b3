"""A long-lived child interpreter that runs one strategy on demand, for the pytest-benchmark suite.

Protocol on stdin/stdout, one JSON line each:

    parent → child   {"strategy": ..., "module": ..., "uses_gevent": ..., "workers": N,
                      "timeout": S, "urls": [...]}
    child → parent   {"ready": true}                 after gevent is patched and imports done
    parent → child   "go"                            once per benchmark round
    child → parent   {"ok": N, "errors": {...}}      when every URL of the round has a record

Like ``fetchbench.worker``, only the standard library is imported before
``gevent.monkey.patch_all()`` (for gevent strategies only), so the parent
(pytest) is never patched and a thread or process child never sees gevent.
Every round starts with fresh fetchers, as a fresh ``fetchbench`` child would.
Closing stdin ends the child.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path


def main() -> int:
    """Read the job, prepare, then run one round per "go" line until stdin closes."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the strategy prints goes to stderr, never into the protocol
    job = json.loads(sys.stdin.readline())
    if job["uses_gevent"]:
        from gevent import monkey

        monkey.patch_all()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
    import importlib

    from fetchbench.fetch import FetchConfig, Fetcher, RunLabel

    run = importlib.import_module(job["module"]).run
    urls: list[str] = job["urls"]
    config = FetchConfig(timeout=job["timeout"])
    out.write(json.dumps({"ready": True}) + "\n")
    for number, line in enumerate(sys.stdin, start=1):
        if line.strip() != "go":
            continue
        label = RunLabel(job["strategy"], job["workers"], 0, number, time.perf_counter())
        errors: dict[str, int] = {}
        seen = bytearray(len(urls))
        lock = threading.Lock()

        def emit(record, errors=errors, seen=seen, lock=lock) -> None:
            with lock:
                seen[record.index] = 1
                if record.error:
                    errors[record.error] = errors.get(record.error, 0) + 1

        def make_fetcher(*, prepare: bool = False, label=label) -> Fetcher:
            fetcher = Fetcher(config, label)
            if prepare and urls:  # as the worker does: client set-up before timing
                fetcher.prepare(urls[0])
            return fetcher

        run(urls, job["workers"], make_fetcher, emit)
        ok = sum(seen) - sum(errors.values())
        missing = len(urls) - sum(seen)
        if missing:
            errors["missing"] = missing
        out.write(json.dumps({"ok": ok, "errors": errors}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
