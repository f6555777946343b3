"""One GET → one Record: timing, a streamed byte count, and an error class.

Each worker (thread, greenlet, process) owns one ``Fetcher`` and so one
``requests.Session``: sharing a urllib3 pool between many greenlets is a
known way to deadlock, and sharing it between threads adds lock contention
the comparison should not measure. Bodies are counted in chunks and
dropped; a body past ``max_bytes`` is cut off as ``too_large``.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from fetchbench.record import Record

CHUNK_SIZE = 64 * 1024
MAX_MESSAGE = 200


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """How every request of a run is made."""

    timeout: float = 10.0
    max_bytes: int = 100 * 1024 * 1024
    keepalive: bool = True
    deadline: float | None = None  # perf_counter() after which nothing new starts


@dataclass(frozen=True, slots=True)
class RunLabel:
    """Which run a record belongs to, and the run's time origin."""

    strategy: str
    workers: int
    cpus: int
    round: int
    t0: float  # perf_counter() at the start of the run (CLOCK_MONOTONIC)


class TooLarge(Exception):
    """The body grew past --max-bytes; the rest is not read."""


def new_session(keepalive: bool) -> requests.Session:
    """A Session with one pooled connection, no retries, optional keep-alive."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if not keepalive:
        session.headers["Connection"] = "close"
    return session


class Fetcher:
    """Fetches URLs with its own Session and turns each into a Record."""

    def __init__(self, config: FetchConfig, label: RunLabel) -> None:
        self.config = config
        self.label = label
        self.session = new_session(config.keepalive)

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()

    def not_run(self, index: int, url: str, reason: str = "run ended first") -> Record:
        """The record of a URL that was never requested."""
        return self._record(index, url, error="not_run", message=reason)

    def fetch(self, index: int, url: str) -> Record:
        """GET ``url`` once; always returns a record, never raises."""
        config = self.config
        begin = time.perf_counter()
        if config.deadline is not None and begin >= config.deadline:
            return self.not_run(index, url, "--max-time reached")
        status = 0
        received = 0
        ttfb = 0.0
        try:
            with self.session.get(url, stream=True, timeout=config.timeout) as response:
                ttfb = time.perf_counter() - begin
                status = response.status_code
                for chunk in _body_chunks(response):
                    received += len(chunk)
                    if received > config.max_bytes:
                        raise TooLarge(f"body exceeds --max-bytes {config.max_bytes}")
        except Exception as exc:  # noqa: BLE001 - every failure becomes a record
            end = time.perf_counter()
            error, cause = classify(exc)
            return self._record(
                index, url, status, received, begin, ttfb, end - begin, error, describe(cause)
            )
        end = time.perf_counter()
        error = http_error_class(status)
        message = f"HTTP {status}" if error else ""
        return self._record(index, url, status, received, begin, ttfb, end - begin, error, message)

    def _record(
        self,
        index: int,
        url: str,
        status: int = 0,
        received: int = 0,
        begin: float | None = None,
        ttfb: float = 0.0,
        latency: float = 0.0,
        error: str = "",
        message: str = "",
    ) -> Record:
        label = self.label
        start = 0.0 if begin is None else begin - label.t0
        return Record(
            label.strategy, label.workers, label.cpus, label.round, index, url,
            status, received, start, ttfb, latency, error, message,
        )


def _body_chunks(response: requests.Response) -> Iterator[bytes]:
    """The raw body in chunks, without decoding, so bytes are wire bytes."""
    return response.raw.stream(CHUNK_SIZE, decode_content=False)


def http_error_class(status: int) -> str:
    """``http_4xx`` / ``http_5xx`` for error statuses, "" otherwise."""
    if 400 <= status < 500:
        return "http_4xx"
    if 500 <= status < 600:
        return "http_5xx"
    return ""


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes/contexts, and urllib3's wrapped ``reason``s."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for nxt in (
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            *[a for a in getattr(current, "args", ()) if isinstance(a, BaseException)],
        ):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


# Error classes in priority order: the first rule matching any link wins.
# (urllib3's NewConnectionError subclasses ConnectTimeoutError, and its
# NameResolutionError subclasses NewConnectionError: the order matters.)
_RULES: tuple[tuple[str, tuple[type[BaseException], ...]], ...] = (
    ("too_large", (TooLarge,)),
    ("too_many_redirects", (requests.TooManyRedirects,)),
    ("truncated", (urllib3.exceptions.IncompleteRead, http.client.IncompleteRead)),
    ("dns", (urllib3.exceptions.NameResolutionError, socket.gaierror)),
    ("connect", (ConnectionRefusedError, urllib3.exceptions.NewConnectionError)),
    (
        "timeout",
        (requests.Timeout, urllib3.exceptions.TimeoutError, socket.timeout, TimeoutError),
    ),
    (
        "reset",
        (
            ConnectionResetError,
            BrokenPipeError,
            ConnectionAbortedError,
            http.client.RemoteDisconnected,
            urllib3.exceptions.ProtocolError,
            requests.exceptions.ChunkedEncodingError,
        ),
    ),
    ("connect", (requests.ConnectionError,)),
)


def classify(exc: BaseException) -> tuple[str, BaseException]:
    """Map an exception raised while fetching onto (error class, the link that decided)."""
    links = _chain(exc)
    for name, types in _RULES:
        for link in links:
            if isinstance(link, types):
                return name, link
    return "other", exc


def describe(exc: BaseException) -> str:
    """A short, single-line message for a record."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("\r", " ")
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
