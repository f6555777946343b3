"""One GET → one Record: timing, a streamed byte count, and an error class.

Each worker (thread, greenlet, process) owns one ``Fetcher`` and so one HTTP
client with one pooled connection: sharing a urllib3 pool between many
greenlets is a known way to deadlock, and sharing it between threads adds
lock contention the comparison should not measure. Bodies are counted in
chunks and dropped; a body past ``max_bytes`` is cut off as ``too_large``.

Two clients (``FetchConfig.client``), with the same timeout, redirect,
byte-counting and error-class semantics:

- ``requests``: a ``requests.Session`` (the default);
- ``urllib3``: a ``urllib3.PoolManager`` used directly (no requests layer);
- ``geventhttpclient``: geventhttpclient's C-parser client, for children that
  gevent has patched only (``GEVENT_CLIENTS``); an optional dependency.

A Fetcher also notes the tool's overhead as a worker sees it: the time from
the end of one request to the start of its next (building the record,
emitting it, the strategy's dispatch), when the worker gives it a ``gaps``
array to append to.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from fetchbench.options import CLIENTS as CLIENTS  # one list; the CLI reads it without requests
from fetchbench.options import GEVENT_CLIENTS as GEVENT_CLIENTS
from fetchbench.record import Record

CHUNK_SIZE = 64 * 1024
MAX_MESSAGE = 200
MAX_REDIRECTS = requests.models.DEFAULT_REDIRECT_LIMIT  # 30, for every client

REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))  # the ones requests follows
HOSTS_KEPT = 10  # per-host connection pools a client keeps (urllib3's PoolManager default)


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """How every request of a run is made."""

    timeout: float = 10.0
    max_bytes: int = 100 * 1024 * 1024
    keepalive: bool = True
    deadline: float | None = None  # perf_counter() after which nothing new starts
    client: str = "requests"  # one of CLIENTS


@dataclass(frozen=True, slots=True)
class RunLabel:
    """Which run a record belongs to, and the run's time origin."""

    strategy: str
    workers: int
    cpus: int
    round: int
    t0: float  # perf_counter() at the start of the run (CLOCK_MONOTONIC)


def make_record(
    label: RunLabel,
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
    """A Record of ``label``'s run; ``begin`` is a perf_counter() reading."""
    start = 0.0 if begin is None else begin - label.t0
    return Record(label.strategy, label.workers, label.cpus, label.round, index, url,
                  status, received, start, ttfb, latency, error, message)


class TooLarge(Exception):
    """The body grew past --max-bytes; the rest is not read."""


class TooManyRedirects(Exception):
    """More than ``MAX_REDIRECTS`` redirects (requests' own, for the other clients)."""


class EnvironmentCAAdapter(HTTPAdapter):
    """The https:// adapter: verifies with the environment's CA bundle
    (REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE) when a request asks for default
    verification, as requests does with trust_env on, redirect hops included.
    Kept off http://, where requests' adapter would stat the bundle's path and
    build a new pool key on every request for nothing."""

    def __init__(self, bundle: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bundle = bundle

    def send(self, request: Any, stream: bool = False, timeout: Any = None,
             verify: bool | str = True, cert: Any = None, proxies: Any = None) -> Any:
        return super().send(request, stream=stream, timeout=timeout,
                            verify=self.verify_for(verify), cert=cert, proxies=proxies)

    def verify_for(self, verify: bool | str) -> bool | str:
        """What to verify with: the bundle where the request asks for default verification."""
        return self.bundle if verify is True and self.bundle else verify


def new_session(keepalive: bool) -> requests.Session:
    """A Session with one pooled connection, no retries, optional keep-alive."""
    session = requests.Session()
    pool = {"pool_connections": 1, "pool_maxsize": 1, "max_retries": 0}
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    session.mount("http://", HTTPAdapter(**pool))
    session.mount("https://", EnvironmentCAAdapter(bundle, **pool))
    if not keepalive:
        session.headers["Connection"] = "close"
    return session


ENV_ORIGINS_KEPT = 256  # origins whose environment settings a worker process remembers

# origin -> what requests takes from the environment for it; one per worker
# process (the environment does not change during a run), shared by its clients
_ENVIRONMENT: dict[str, dict[str, Any]] = {}


def _origin_end(url: str) -> int:
    """Where ``scheme://netloc`` ends in an absolute http(s) URL: at the first
    ``/``, ``?`` or ``#`` after the scheme, or at the end."""
    start = url.find("://") + 3
    end = len(url)
    for mark in "/?#":
        at = url.find(mark, start)
        if 0 <= at < end:
            end = at
    return end


def origin(url: str) -> str:
    """``scheme://netloc`` of an absolute http(s) URL."""
    return url[:_origin_end(url)]


def environment_settings(session: requests.Session, url: str) -> dict[str, Any]:
    """requests' settings from the environment for ``url``'s origin (proxies and
    no_proxy, REQUESTS_CA_BUNDLE, ~/.netrc), read once per origin per process.

    ``session`` must be the caller's own (it is read with trust_env on for a moment).
    The CA bundle is left out (``EnvironmentCAAdapter`` applies it to https://).
    """
    key = origin(url)
    settings = _ENVIRONMENT.get(key)
    if settings is None:
        session.trust_env = True
        try:
            settings = session.merge_environment_settings(url, {}, True, None, None)
        finally:
            session.trust_env = False
        settings["auth"] = requests.utils.get_netrc_auth(url)
        del settings["verify"], settings["cert"]  # the session's own: see EnvironmentCAAdapter
        if len(_ENVIRONMENT) >= ENV_ORIGINS_KEPT:
            _ENVIRONMENT.clear()
        _ENVIRONMENT[key] = settings
    return settings


class Progress:
    """How far the current GET got, kept by every client so that a failure still
    tells it: ``status``, body bytes ``received`` (counted against ``max_bytes``)
    and ``headers_at`` (perf_counter when the head arrived, 0.0 before)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.restart()

    def restart(self) -> None:
        """A new GET begins: nothing received yet."""
        self.status = self.received = 0
        self.headers_at = 0.0

    def count_body(self, chunks: Iterator[bytes]) -> None:
        """Count the body's chunks (wire bytes, not decoded); TooLarge past the cap."""
        limit = self.max_bytes
        for chunk in chunks:
            self.received += len(chunk)
            if self.received > limit:
                raise TooLarge(f"body exceeds --max-bytes {limit}")


class RequestsClient(Progress):
    """GET through a ``requests.Session``; progress is kept on the instance.

    ``get`` sets ``status``, ``received`` and ``headers_at`` (perf_counter when
    the head arrived, 0.0 before) as it goes, so a failure still tells how far
    the exchange got.

    What requests reads from the environment is read once per origin and
    process (``environment_settings``), not per request: requests scans
    ``os.environ`` twice and stats ~/.netrc on every call, ~20 % of its CPU on
    a loopback GET, which would be charged to the strategy under test.
    Redirect hops reuse the first origin's proxies and no netrc credentials
    are looked up for them (requests would, with trust_env on).
    """

    def __init__(self, config: FetchConfig) -> None:
        super().__init__(config.max_bytes)
        self.session = new_session(config.keepalive)
        self.session.trust_env = False  # see environment_settings
        self.timeout = config.timeout

    def get(self, url: str) -> None:
        """GET ``url`` and count its body; raises on any failure."""
        self.restart()
        settings = environment_settings(self.session, url)
        with self.session.get(url, timeout=self.timeout, **settings) as response:
            self.headers_at = time.perf_counter()
            self.status = response.status_code
            self.count_body(response.raw.stream(CHUNK_SIZE, decode_content=False))

    def prepare(self, url: str) -> None:
        """Read the environment's settings for ``url``'s origin and build the
        connection pool its first GET would build (no connection is opened)."""
        settings = environment_settings(self.session, url)
        adapter = self.session.get_adapter(url)
        verify = adapter.verify_for(True) if isinstance(adapter, EnvironmentCAAdapter) else True
        request = self.session.prepare_request(requests.Request("GET", url))
        adapter.get_connection_with_tls_context(request, verify, proxies=settings["proxies"])

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()


class Urllib3Client(Progress):
    """GET through a ``urllib3.PoolManager`` directly: one connection per host, no retries.

    Redirects are followed (at most ``MAX_REDIRECTS``, like requests), the
    connect and read timeouts are both ``timeout``, bodies are streamed raw.
    """

    def __init__(self, config: FetchConfig) -> None:
        super().__init__(config.max_bytes)
        headers = {} if config.keepalive else {"Connection": "close"}
        self.retries = urllib3.Retry(
            total=None, connect=0, read=0, redirect=MAX_REDIRECTS, status=0, other=0,
            raise_on_redirect=True, raise_on_status=False, respect_retry_after_header=False,
        )
        self.pool = urllib3.PoolManager(
            maxsize=1, block=False, headers=headers, retries=self.retries,
            timeout=urllib3.Timeout(connect=config.timeout, read=config.timeout),
        )

    def get(self, url: str) -> None:
        """GET ``url`` and count its body; raises on any failure."""
        self.restart()
        try:
            response = self.pool.urlopen(
                "GET", url, redirect=True, preload_content=False, decode_content=False
            )
        except urllib3.exceptions.MaxRetryError as exc:
            if isinstance(exc.reason, urllib3.exceptions.ResponseError):
                raise TooManyRedirects(f"Exceeded {MAX_REDIRECTS} redirects.") from exc
            raise
        try:
            self.headers_at = time.perf_counter()
            self.status = response.status
            self.count_body(response.stream(CHUNK_SIZE, decode_content=False))
        finally:  # as requests does: close (a no-op once fully read), give the slot back
            response.close()
            response.release_conn()

    def prepare(self, url: str) -> None:
        """Build the connection pool of ``url``'s host (no connection is opened)."""
        self.pool.connection_from_url(url)

    def close(self) -> None:
        """Close every pooled connection."""
        self.pool.clear()


def split_target(url: str) -> tuple[str, str]:
    """``(scheme://netloc, request target)`` of an absolute http(s) URL, the
    fragment dropped: ``http://h:1/p?q#f`` -> ``("http://h:1", "/p?q")``. What
    ``urlsplit`` gives, for a fraction of its cost on every request."""
    end = _origin_end(url)
    target = url[end:].partition("#")[0]
    return url[:end], target if target.startswith("/") else "/" + target


class GeventHttpClient(Progress):
    """GET through geventhttpclient: one ``HTTPClient`` (one connection) per host.

    Redirects are followed as requests does (301/302/303/307/308, at most
    ``MAX_REDIRECTS``); its parse errors are mapped onto the stdlib's, so
    ``classify`` gives the same classes: a connection closed before the head
    is ``reset``, a body cut short is ``truncated``.
    """

    def __init__(self, config: FetchConfig) -> None:
        from geventhttpclient import HTTPClient  # optional; imported in gevent children only
        from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError

        self._new = HTTPClient
        self._closed_error: type[Exception] = HTTPConnectionClosed
        self._parse_error: type[Exception] = HTTPParseError
        super().__init__(config.max_bytes)
        self.timeout = config.timeout
        self.headers = {} if config.keepalive else {"Connection": "close"}
        self.hosts: OrderedDict[str, Any] = OrderedDict()  # scheme://netloc -> client

    def _client_for(self, key: str) -> Any:
        """The client of origin ``key`` (``scheme://netloc``), made on first use."""
        client = self.hosts.get(key)
        if client is None:
            if len(self.hosts) >= HOSTS_KEPT:
                self.hosts.popitem(last=False)[1].close()
            parts = urlsplit(key)
            client = self.hosts[key] = self._new(
                parts.hostname or "", parts.port, headers=self.headers, block_size=CHUNK_SIZE,
                concurrency=1, connection_timeout=self.timeout, network_timeout=self.timeout,
                ssl=parts.scheme == "https",
            )
        else:
            self.hosts.move_to_end(key)
        return client

    def get(self, url: str) -> None:
        """GET ``url`` (following redirects) and count its body; raises on any failure."""
        self.restart()
        try:
            self._get(url)
        except self._closed_error as exc:
            raise http.client.RemoteDisconnected(str(exc)) from exc
        except self._parse_error as exc:
            if "ncomplete" not in str(exc):
                raise
            raise http.client.IncompleteRead(b"") from exc

    def _get(self, url: str) -> None:
        for _ in range(MAX_REDIRECTS + 1):
            key, target = split_target(url)
            response = self._client_for(key).get(target)
            try:
                location = (response.get("location")
                            if response.status_code in REDIRECT_STATUSES else None)
                if not location:
                    self.headers_at = time.perf_counter()
                    self.status = response.status_code
                    self.count_body(iter(partial(response.read, CHUNK_SIZE), b""))
                    return
                while response.read(CHUNK_SIZE):  # drain the hop's body: keep the connection
                    pass
            finally:
                response.release()
            url = urljoin(url, location)
        raise TooManyRedirects(f"Exceeded {MAX_REDIRECTS} redirects.")

    def prepare(self, url: str) -> None:
        """Build the ``HTTPClient`` of ``url``'s origin (no connection is opened)."""
        self._client_for(split_target(url)[0])

    def close(self) -> None:
        """Close every host's connection."""
        while self.hosts:
            self.hosts.popitem()[1].close()


def new_client(config: FetchConfig) -> RequestsClient | Urllib3Client | GeventHttpClient:
    """The HTTP client ``config.client`` names."""
    if config.client == "urllib3":
        return Urllib3Client(config)
    if config.client == "geventhttpclient":
        return GeventHttpClient(config)
    if config.client == "requests":
        return RequestsClient(config)
    raise ValueError(f"unknown HTTP client {config.client!r} (known: {', '.join(CLIENTS)})")


class Fetcher:
    """Fetches URLs with its own HTTP client and turns each into a Record.

    ``gaps``, when given, receives the seconds between the end of one of this
    fetcher's requests and the start of its next: the tool's (and the
    strategy's) per-request overhead as a worker sees it.
    """

    def __init__(
        self,
        config: FetchConfig,
        label: RunLabel,
        gaps: array | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.label = label
        self.client = new_client(config)
        self.gaps = gaps
        self.stop = stop  # set on Ctrl-C: nothing new starts, in-flight requests finish
        self._free_at = 0.0  # perf_counter() when the previous request ended

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def prepare(self, url: str) -> None:
        """Set up what the client's first request to ``url``'s origin would set
        up (settings from the environment, the connection pool object), so
        that the first request times the exchange, not the client's set-up.
        Nothing is sent and no connection is opened. Best effort: a URL the
        client cannot handle fails in ``fetch``, as a record."""
        with contextlib.suppress(Exception):
            self.client.prepare(url)

    def not_run(
        self, index: int, url: str, reason: str = "run ended first", error: str = "not_run"
    ) -> Record:
        """The record of a URL that was never requested (or lost: ``worker_died``)."""
        return make_record(self.label, index, url, error=error, message=reason)

    def fetch(self, index: int, url: str) -> Record:
        """GET ``url`` once; always returns a record, never raises."""
        begin = time.perf_counter()
        deadline = self.config.deadline
        if deadline is not None and begin >= deadline:
            return self.not_run(index, url, "--max-time reached")
        if self.stop is not None and self.stop.is_set():
            return self.not_run(index, url, "interrupted")
        if self._free_at and self.gaps is not None:
            self.gaps.append(begin - self._free_at)
        client = self.client
        try:
            client.get(url)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a record
            end = self._free_at = time.perf_counter()
            error, cause = classify(exc)
            ttfb = client.headers_at - begin if client.headers_at else 0.0
            return make_record(
                self.label, index, url, client.status, client.received, begin, ttfb, end - begin, error,
                describe(cause),
            )
        end = self._free_at = time.perf_counter()
        status = client.status
        error = http_error_class(status)
        return make_record(
            self.label, index, url, status, client.received, begin, client.headers_at - begin, end - begin,
            error, f"HTTP {status}" if error else "",
        )


def http_error_class(status: int) -> str:
    """``http_4xx`` / ``http_5xx`` for error statuses, "" otherwise."""
    if 400 <= status < 500:
        return "http_4xx"
    if 500 <= status < 600:
        return "http_5xx"
    return ""


def exception_chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes/contexts, and the errors clients wrap inside theirs
    (urllib3's ``reason``, aiohttp's ``os_error``, exceptions passed as args)."""
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
            getattr(current, "os_error", None),
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
    ("too_many_redirects", (requests.TooManyRedirects, TooManyRedirects)),
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
    links = exception_chain(exc)
    for name, types in _RULES:
        for link in links:
            if isinstance(link, types):
                return name, link
    return "other", exc


def describe(exc: BaseException) -> str:
    """A short, single-line message for a record."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("\r", " ")
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
