"""The worker child: descriptors return to where they started after 10,000 requests;
a strategy that ran short-handed leaves an incomplete run with a note."""

from __future__ import annotations

import dataclasses
import os

import pytest

from fetchbench import worker
from fetchbench.runner import ChildRun, FetchOptions, PlannedRun
from fetchbench.strategies import STRATEGIES
from tests.helpers import read_messages, run_python, run_strategy

REQUESTS = 10_000


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "name,workers",
    [("serial", 1), ("process", 4), ("thread", 8), ("gevent-spawn", REQUESTS), ("gevent-pool", 50)],
)
def test_descriptors_return_to_start_after_10000_requests(server, sink, name, workers):
    urls = [server.url(f"/fd/{i}", bytes=16) for i in range(REQUESTS)]
    meta = run_strategy(sink, urls, name, workers, timeout=30)
    assert len(sink.records) == REQUESTS
    assert all(r.error == "" and r.bytes == 16 for r in sink.records)
    assert meta.probe["fds_before"] > 0
    assert meta.probe["fds_after"] == meta.probe["fds_before"]


SHORT_HANDED = "1 worker not ready after 60 s, stopped (pid 4242); the run went on with 2 of 3"


def run(urls, workers, make_fetcher, emit):
    """A strategy for the tests below: runs with a worker short; on a list of
    ``/dead/`` URLs, every URL is lost with the others as well."""
    fetcher = make_fetcher(prepare=True)
    for index, url in enumerate(urls):
        emit(fetcher.not_run(index, url, "every worker died", error="worker_died")
             if "/dead/" in url else fetcher.fetch(index, url))
    return {"not_ready": SHORT_HANDED}


@pytest.mark.parametrize("path,note", [
    ("short", SHORT_HANDED),
    ("dead", f"{SHORT_HANDED}; a worker died: 4 URLs recorded as worker_died"),
])
def test_a_run_with_workers_not_ready_is_incomplete_and_says_why(server, path, note):
    urls = [server.url(f"/{path}/{i}", bytes=10) for i in range(4)]
    planned = PlannedRun(dataclasses.replace(STRATEGIES["process"], module=__name__), 3, 1, 1)
    job = ChildRun(planned, urls, FetchOptions(max_bytes=1 << 20)).job()
    read_end, write_end = os.pipe()
    try:
        assert worker.run_job(job, urls, write_end) == 0
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        messages = read_messages(stream)
    rows = [row for m in messages for row in m.get("records", [])]
    meta = messages[-1]["meta"]
    assert len(rows) == len(urls)
    assert (meta["complete"], meta["note"]) == (False, note)


def test_two_stop_signals_at_once_interrupt_only_once():
    """The group's SIGTERM and the parent's SIGINT pending together: the worker
    stops once, and its shutdown (records, meta frame) runs to its end."""
    script = """
import os, signal
from fetchbench.worker import install_stop_handlers
install_stop_handlers()
both = {signal.SIGINT, signal.SIGTERM}
signal.pthread_sigmask(signal.SIG_BLOCK, both)
os.kill(os.getpid(), signal.SIGTERM)
os.kill(os.getpid(), signal.SIGINT)
stops = 0
try:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, both)
    for _ in range(1000):
        pass
except KeyboardInterrupt:
    stops += 1
    for _ in range(1000):  # the shutdown: a second KeyboardInterrupt would land here
        pass
print("stops", stops, "shutdown done")
"""
    done = run_python(script)
    assert (done.returncode, done.stdout.strip()) == (0, "stops 1 shutdown done"), done.stderr
