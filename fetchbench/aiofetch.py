"""One GET with aiohttp → one Record: the asyncio strategies' ``fetch.Fetcher``.

Same record, same semantics as ``fetch.Fetcher``: connect and read timeouts
are both ``FetchConfig.timeout`` (aiohttp's ``sock_connect``/``sock_read``,
no total), at most ``fetch.MAX_REDIRECTS`` redirects, bodies streamed with
``iter_chunked`` and counted, never kept, as wire bytes (``auto_decompress``
off), cut off past ``max_bytes`` as ``too_large``. aiohttp's exceptions map
onto the same error classes (``record.ERROR_CLASSES``):

================================================  ======================
aiohttp / asyncio                                 error class
================================================  ======================
``fetch.TooLarge``                                ``too_large``
``TooManyRedirects``                              ``too_many_redirects``
``ClientPayloadError`` after a reset (see below)  ``reset``
``ClientPayloadError`` (Content-Length/chunked)   ``truncated``
``ClientConnectorDNSError``, ``socket.gaierror``  ``dns``
``ServerTimeoutError``, ``asyncio.TimeoutError``  ``timeout``
``ClientConnectorError``, refused                 ``connect``
``ServerDisconnectedError``, reset, broken pipe   ``reset``
anything else                                     ``other``
================================================  ======================

aiohttp reports a body cut short by a TCP reset as a ``ClientPayloadError``
whose text ends with the ``repr`` of the connection error (it is not chained
as an exception), so that text is what tells ``reset`` from ``truncated``.
Imported only in an asyncio child (it imports aiohttp).
"""

from __future__ import annotations

import asyncio
import socket
import time
from array import array
from dataclasses import dataclass

import aiohttp

from fetchbench.fetch import (
    CHUNK_SIZE,
    MAX_REDIRECTS,
    FetchConfig,
    RunLabel,
    TooLarge,
    describe,
    exception_chain,
    http_error_class,
    make_record,
)
from fetchbench.record import Record

_RESET_NAMES = ("ConnectionResetError", "BrokenPipeError", "ConnectionAbortedError")


def new_session(config: FetchConfig, limit: int) -> aiohttp.ClientSession:
    """One session for the whole run: at most ``limit`` connections, raw bodies."""
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0,
                                     force_close=not config.keepalive)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=config.timeout,
                                    sock_read=config.timeout)
    headers = {} if config.keepalive else {"Connection": "close"}
    return aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers,
                                 auto_decompress=False, raise_for_status=False)


@dataclass
class AsyncFetcher:
    """Fetches URLs through a shared session; one per worker task (for its gaps)."""

    session: aiohttp.ClientSession
    config: FetchConfig
    label: RunLabel
    gaps: array | None = None  # the worker's gap array (see fetch.Fetcher), if any
    _free_at: float = 0.0

    def not_run(self, index: int, url: str, reason: str = "run ended first") -> Record:
        """The record of a URL that was never requested."""
        return make_record(self.label, index, url, error="not_run", message=reason)

    async def fetch(self, index: int, url: str) -> Record:
        """GET ``url`` once; always returns a record, never raises (but cancellation)."""
        begin = time.perf_counter()
        deadline = self.config.deadline
        if deadline is not None and begin >= deadline:
            return self.not_run(index, url, "--max-time reached")
        if self._free_at and self.gaps is not None:
            self.gaps.append(begin - self._free_at)
        status = received = 0
        headers_at = 0.0
        limit = self.config.max_bytes
        try:
            async with self.session.get(url, max_redirects=MAX_REDIRECTS) as response:
                headers_at = time.perf_counter()
                status = response.status
                async for chunk in response.content.iter_chunked(CHUNK_SIZE):
                    received += len(chunk)
                    if received > limit:
                        raise TooLarge(f"body exceeds --max-bytes {limit}")
        except Exception as exc:  # noqa: BLE001 - every failure becomes a record
            end = self._free_at = time.perf_counter()
            error, cause = classify(exc)
            ttfb = headers_at - begin if headers_at else 0.0
            return make_record(self.label, index, url, status, received, begin, ttfb,
                               end - begin, error, describe(cause))
        end = self._free_at = time.perf_counter()
        error = http_error_class(status)
        return make_record(self.label, index, url, status, received, begin,
                           headers_at - begin, end - begin, error,
                           f"HTTP {status}" if error else "")


def _is_reset_payload(exc: BaseException) -> bool:
    return isinstance(exc, aiohttp.ClientPayloadError) and any(
        name in str(exc) for name in _RESET_NAMES)


# Error classes in priority order: the first rule matching any link wins.
# (ClientConnectorDNSError subclasses ClientConnectorError, and aiohttp's
# ServerTimeoutError subclasses ServerConnectionError: the order matters.)
_RULES: tuple[tuple[str, tuple[type[BaseException], ...]], ...] = (
    ("too_large", (TooLarge,)),
    ("too_many_redirects", (aiohttp.TooManyRedirects,)),
    ("truncated", (aiohttp.ClientPayloadError,)),  # unless _is_reset_payload: see classify
    ("dns", (getattr(aiohttp, "ClientConnectorDNSError", socket.gaierror), socket.gaierror)),
    ("timeout", (aiohttp.ServerTimeoutError, asyncio.TimeoutError, TimeoutError)),
    ("connect", (ConnectionRefusedError, aiohttp.ClientConnectorError)),
    (
        "reset",
        (
            ConnectionResetError,
            BrokenPipeError,
            ConnectionAbortedError,
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientOSError,
        ),
    ),
)


def classify(exc: BaseException) -> tuple[str, BaseException]:
    """Map an exception raised while fetching onto (error class, the link that decided)."""
    links = exception_chain(exc)
    for link in links:
        if _is_reset_payload(link):
            return "reset", link
    for name, types in _RULES:
        for link in links:
            if isinstance(link, types):
                return name, link
    return "other", exc
