"""The embedded server's connection protocol: one asyncio.Protocol per TCP connection.

The per-request path of a plain response is short on purpose: find the end of
the head, parse a few header lines, look the whole response up in a cache of
immutable bytes and hand it to the transport in one write (one send, so no
Nagle/delayed-ACK stall even without TCP_NODELAY). Anything that waits (delay,
drip, stall), misbehaves (reset, truncate) or is large runs as a task; a
connection serves its requests one at a time, in order (pipelining works).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import struct
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from fetchbench.server_params import Plan, plan_for, redirect_location
from fetchbench.server_render import (
    INLINE_MAX,
    HttpError,
    Request,
    Shape,
    connection_header,
    keeps_alive,
    parse_head,
    render_head,
    render_json,
    render_text,
    shape_for,
)

STATS_PATH = "/__stats"
MAX_HEAD = 64 * 1024  # a longer request head gets 431
MAX_BUFFERED = 1 << 20  # stop reading a connection whose unserved input exceeds this
CACHE_BYTES = 64 << 20  # rendered responses kept for reuse, at most
DRIP_TICK = 0.05  # seconds between pieces of a dripped body


@dataclass
class ServerState:
    """What all connections share: the counters, the open connections, the cache."""

    connections: int = 0  # connections that carried at least one counted request
    requests: int = 0  # requests served, /__stats excluded
    open: set[HttpConnection] = field(default_factory=set)
    cache: dict[tuple, bytes] = field(default_factory=dict)
    cache_bytes: int = 0

    def cached(self, key: tuple, render: Callable[[], bytes]) -> bytes:
        """The response for ``key``, rendered once and reused while it fits."""
        data = self.cache.get(key)
        if data is None:
            data = render()
            if self.cache_bytes + len(data) > CACHE_BYTES:
                self.cache.clear()
                self.cache_bytes = 0
            self.cache[key] = data
            self.cache_bytes += len(data)
        return data

    def stats_json(self) -> str:
        """The /__stats payload."""
        return json.dumps({"connections": self.connections, "requests": self.requests})


class HttpConnection(asyncio.Protocol):
    """Serves the HTTP/1.x requests of one connection, in order."""

    _transport: asyncio.Transport  # set by connection_made, which asyncio calls first

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._buf = b""
        self._skip = 0  # request-body bytes still to discard
        self._task: asyncio.Task | None = None
        self._counted = False
        self._eof = False
        self._write_paused = False
        self._read_paused = False
        self._drain: asyncio.Future | None = None

    # -- asyncio callbacks ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        # TCP_NODELAY is on already: asyncio's socket transport sets it on every TCP
        # connection (base_events._set_nodelay, Python 3.6+); test_server pins it.
        self._state.open.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.open.discard(self)
        if self._task is not None:
            self._task.cancel()
        self._wake()

    def data_received(self, data: bytes) -> None:
        self._buf = self._buf + data if self._buf else data
        if self._task is None and not self._write_paused:
            self._guarded(self._process)
        elif len(self._buf) > MAX_BUFFERED and not self._read_paused:
            self._read_paused = True
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        self._eof = True
        return self._task is not None  # half-closed: finish the response under way first

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()
        if self._task is None:
            self._guarded(self._process)

    def abort(self) -> None:
        """Drop the connection at once (server shutdown, or a bug while serving it)."""
        self._transport.abort()

    # -- request loop ----------------------------------------------------------

    def _closing(self) -> bool:
        return self._transport.is_closing()

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run ``step``; a bug in it drops this connection, never the server."""
        try:
            step()
        except Exception:  # a server bug, not a client's doing: show it
            traceback.print_exc(file=sys.stderr)
            self.abort()

    def _process(self) -> None:
        """Serve every complete request in the buffer, until one needs a task."""
        buf, pos = self._buf, 0
        while self._task is None and not self._write_paused and not self._closing():
            if self._skip:
                n = min(self._skip, len(buf) - pos)
                pos += n
                self._skip -= n
                if self._skip:
                    break
            end, sep = self._head_end(buf, pos)
            if end < 0:
                if len(buf) - pos > MAX_HEAD:
                    self._fail(HttpError(431, "request head too large"))
                break
            head, pos = buf[pos:end], end + sep
            self._respond(head)
        self._buf = buf[pos:]
        if self._read_paused and len(self._buf) <= MAX_BUFFERED and not self._closing():
            self._read_paused = False
            self._transport.resume_reading()

    @staticmethod
    def _head_end(buf: bytes, pos: int) -> tuple[int, int]:
        """Where the head starting at ``pos`` ends and its blank line's length (-1 if not yet)."""
        end = buf.find(b"\r\n\r\n", pos)
        bare = buf.find(b"\n\n", pos, end if end >= 0 else len(buf))  # LF-only clients
        return (bare, 2) if bare >= 0 else (end, 4)

    def _respond(self, head: bytes) -> None:
        """Answer one request head: at once if possible, else by starting a task."""
        try:
            req = parse_head(head)
        except HttpError as err:
            self._fail(err)
            return
        if req is None:
            return
        self._skip = req.body_length
        if req.path == STATS_PATH:
            self._write_text(
                req, render_json(self._state.stats_json(), self._conn(req), req.head_only)
            )
            return
        self._count()
        if req.method not in ("GET", "HEAD"):
            extra = b"Allow: GET, HEAD\r\n"
            self._write_text(
                req, render_text(405, "only GET and HEAD\n", self._conn(req), extra=extra)
            )
            return
        plan = plan_for(req.query)
        if isinstance(plan, str):
            self._write_text(req, render_text(400, plan + "\n", self._conn(req), req.head_only))
        elif plan.plain and (plan.redirect or plan.nbytes <= INLINE_MAX):
            self._write_plain(req, plan)
        else:
            self._task = asyncio.get_running_loop().create_task(self._serve_slow(req, plan))
            self._task.add_done_callback(self._task_done)

    def _count(self) -> None:
        self._state.requests += 1
        if not self._counted:
            self._counted = True
            self._state.connections += 1

    def _conn(self, req: Request) -> bytes:
        return connection_header(req.keep_alive, req.http10)

    def _fail(self, err: HttpError) -> None:
        """Answer a request that cannot be parsed, then close."""
        self._transport.write(
            render_text(err.status, err.reason + "\n", connection_header(False, False))
        )
        self._transport.close()

    def _write_text(self, req: Request, data: bytes) -> None:
        self._transport.write(data)
        if not req.keep_alive:
            self._transport.close()

    def _write_plain(self, req: Request, plan: Plan) -> None:
        """A response without faults or waiting: one write of cached bytes."""
        keep = keeps_alive(req, plan)
        if plan.redirect:
            data = self._redirect(req, plan, keep)
        else:
            key = (plan.status, plan.nbytes, plan.chunked, req.head_only, req.http10, keep)
            data = self._state.cached(key, lambda: shape_for(req, plan).render())
        self._transport.write(data)
        if not keep:
            self._transport.close()

    def _redirect(self, req: Request, plan: Plan, keep: bool) -> bytes:
        location = redirect_location(req.path, req.query, plan.redirect - 1)
        extra = b"Location: %s\r\n" % location.encode("latin-1")
        conn = connection_header(keep, req.http10)
        return render_head(302, b"Content-Length: 0\r\n", conn, extra=extra)

    # -- slow path: tasks ------------------------------------------------------

    def _task_done(self, task: asyncio.Task) -> None:
        self._task = None
        exc = None if task.cancelled() else task.exception()
        if exc is not None:  # a server bug, not a client's doing: show it
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
            self.abort()
        elif not self._closing():
            self._guarded(self._process)
            if self._eof and self._task is None and not self._closing():
                self._transport.close()

    async def _serve_slow(self, req: Request, plan: Plan) -> None:
        """A response that waits, misbehaves or streams a large body."""
        if plan.delay:
            await asyncio.sleep(plan.delay)
        if plan.redirect:
            self._write_plain(req, plan)
            return
        shape = shape_for(req, plan)
        if plan.reset:
            cut = (len(shape.head) + shape.body_length()) // 2
            await self._send(shape, limit=cut)
            await self._reset()
        elif plan.truncate is not None:
            await self._send(shape, limit=len(shape.head) + plan.truncate)
            self._transport.close()
        elif plan.stall:
            self._transport.write(shape.head)
            await asyncio.sleep(plan.stall)
            self._transport.close()
        else:
            await self._send(shape, drip=plan.drip)
            if not shape.keep_alive:
                self._transport.close()

    async def _send(self, shape: Shape, limit: int | None = None, drip: float = 0.0) -> None:
        """Write the response's pieces, waiting for the client to keep up."""
        size, pause = INLINE_MAX, 0.0
        if drip:
            ticks = max(1, min(shape.nbytes, math.ceil(drip / DRIP_TICK)))
            size, pause = math.ceil(shape.nbytes / ticks) or 1, drip / ticks
        for index, piece in enumerate(shape.pieces(size)):
            if pause and index:
                await asyncio.sleep(pause)
            if self._closing():
                return
            if limit is not None:
                piece = piece[:limit]
                limit -= len(piece)
            self._transport.write(piece)
            if limit == 0:
                return
            await self._drained()

    async def _drained(self) -> None:
        """Wait while the transport's buffer is above its high-water mark."""
        if self._write_paused and not self._closing():
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain

    def _wake(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    async def _reset(self) -> None:
        """Flush what was written, then close with SO_LINGER 0: the client gets RST."""
        while self._transport.get_write_buffer_size() and not self._closing():
            await asyncio.sleep(0.001)
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._transport.abort()
