"""The embedded server's response bytes: heads, bodies and the request-head parser.

Bodies are slices of one preallocated, immutable buffer (a repeating 64-byte
line), so a response never allocates its body and the transport may keep a
slice without it being overwritten. Pure functions: no sockets here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus

from fetchbench.server_params import Plan

PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"
INLINE_MAX = 256 * 1024  # bodies up to this size go out with their head in one write
PIECE = INLINE_MAX  # larger bodies are streamed in pieces of this size
CHUNK = 16 * 1024  # payload bytes per chunk with chunked=1
# One spare line so a slice may start at any phase of the pattern.
BODY = PATTERN * (INLINE_MAX // len(PATTERN) + 1)
_BODY_VIEW = memoryview(BODY)

OCTETS = b"application/octet-stream"
TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"
NO_BODY_STATUSES = frozenset({204, 304})
_REASONS: dict[int, bytes] = {int(s): s.phrase.encode() for s in HTTPStatus}


class HttpError(Exception):
    """A request the server cannot parse: answered with ``status`` and closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(slots=True)
class Request:
    """The parts of a request head the server acts on."""

    method: str
    path: str
    query: str
    http10: bool
    keep_alive: bool
    body_length: int = 0

    @property
    def head_only(self) -> bool:
        """True for HEAD: the response has a head but no body."""
        return self.method == "HEAD"


def expected_body(nbytes: int) -> bytes:
    """The body the server sends for ``bytes=nbytes``."""
    return (PATTERN * (nbytes // len(PATTERN) + 1))[:nbytes]


def connection_header(keep_alive: bool, http10: bool) -> bytes:
    """The Connection header line a response needs, if any."""
    if not keep_alive:
        return b"Connection: close\r\n"
    return b"Connection: keep-alive\r\n" if http10 else b""


def render_head(
    status: int, framing: bytes, conn: bytes, ctype: bytes = OCTETS, extra: bytes = b""
) -> bytes:
    """A response head; ``framing`` is the Content-Length/Transfer-Encoding line or b""."""
    reason = _REASONS.get(status, b"Status")
    return b"HTTP/1.1 %d %s\r\nServer: fetchbench\r\nContent-Type: %s\r\n%s%s%s\r\n" % (
        status,
        reason,
        ctype,
        framing,
        conn,
        extra,
    )


def render_text(
    status: int, text: str, conn: bytes, head_only: bool = False, extra: bytes = b"",
    content_type: bytes = TEXT,
) -> bytes:
    """A complete small response with a plain-text body (errors, reasons)."""
    body = text.encode()
    head = render_head(status, b"Content-Length: %d\r\n" % len(body), conn, content_type, extra)
    return head if head_only else head + body


def render_json(payload: str, conn: bytes, head_only: bool = False) -> bytes:
    """A complete JSON response (used by /__stats)."""
    return render_text(200, payload, conn, head_only, b"Cache-Control: no-store\r\n", JSON)


def body_pieces(nbytes: int, size: int, chunked: bool) -> Iterator[bytes | memoryview]:
    """The body as pieces of at most ``size`` payload bytes, chunk-framed if asked."""
    size = max(1, min(size, INLINE_MAX))
    sent = 0
    while sent < nbytes:
        n = min(size, nbytes - sent)
        start = sent % len(PATTERN)
        view = _BODY_VIEW[start : start + n]
        yield b"".join((b"%x\r\n" % n, view, b"\r\n")) if chunked else view
        sent += n
    if chunked:
        yield b"0\r\n\r\n"


def chunked_length(nbytes: int, size: int) -> int:
    """Bytes on the wire of a chunk-framed body of ``nbytes`` in chunks of ``size``."""
    full, rest = divmod(nbytes, size)
    return full * _framed(size) + (_framed(rest) if rest else 0) + len(b"0\r\n\r\n")


def _framed(n: int) -> int:
    return len(b"%x\r\n" % n) + n + 2


@dataclass(frozen=True, slots=True)
class Shape:
    """One response as bytes to send: a head, then ``nbytes`` of (framed) body."""

    head: bytes
    nbytes: int
    chunked: bool
    keep_alive: bool

    def body_length(self) -> int:
        """Bytes of body on the wire, framing included."""
        return chunked_length(self.nbytes, CHUNK) if self.chunked else self.nbytes

    def pieces(self, size: int = PIECE) -> Iterator[bytes | memoryview]:
        """The head, then the body in pieces of at most ``size`` payload bytes."""
        yield self.head
        if self.chunked:
            size = min(size, CHUNK)
        yield from body_pieces(self.nbytes, size, self.chunked)

    def render(self) -> bytes:
        """The whole response as one bytes object (for bodies up to INLINE_MAX)."""
        return b"".join(self.pieces())


def keeps_alive(req: Request, plan: Plan) -> bool:
    """Whether the connection stays open after this request's response.

    HTTP/1.0 has no chunked encoding, so a chunked=1 response to it is
    close-delimited instead.
    """
    if not req.keep_alive or plan.close:
        return False
    return not (plan.chunked and req.http10 and plan.status not in NO_BODY_STATUSES)


def shape_for(req: Request, plan: Plan) -> Shape:
    """The response a request with this plan gets (faults aside).

    204 and 304 never carry a body; see ``keeps_alive`` for HTTP/1.0 + chunked.
    """
    status = plan.status
    keep = keeps_alive(req, plan)
    if status in NO_BODY_STATUSES:
        framing, chunked, nbytes = b"", False, 0
    elif plan.chunked and req.http10:
        framing, chunked, nbytes = b"", False, plan.nbytes
    elif plan.chunked:
        framing, chunked, nbytes = b"Transfer-Encoding: chunked\r\n", True, plan.nbytes
    else:
        framing, chunked, nbytes = b"Content-Length: %d\r\n" % plan.nbytes, False, plan.nbytes
    head = render_head(status, framing, connection_header(keep, req.http10))
    return Shape(head, 0 if req.head_only else nbytes, chunked and not req.head_only, keep)


def _target_parts(target: str) -> tuple[str, str]:
    if target.startswith(("http://", "https://")):  # absolute form
        rest = target.split("//", 1)[1]
        slash = rest.find("/")
        target = rest[slash:] if slash >= 0 else "/"
    elif not target.startswith("/") and target != "*":
        raise HttpError(400, "malformed request target")
    path, _, query = target.partition("?")
    return path, query


def _version(token: bytes) -> bool:
    """True for HTTP/1.0, False for HTTP/1.1."""
    if token == b"HTTP/1.1":
        return False
    if token == b"HTTP/1.0":
        return True
    if token.startswith(b"HTTP/"):
        raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    raise HttpError(400, "malformed request line")


def parse_head(head: bytes) -> Request | None:
    """Parse a request head (without its blank line); None when it is only blank lines."""
    lines = head.splitlines()
    while lines and not lines[0].strip():
        del lines[0]
    if not lines:
        return None
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    http10 = _version(parts[2])
    path, query = _target_parts(parts[1].decode("latin-1"))
    conn, length = b"", 0
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise HttpError(400, "malformed header line")
        name = name.strip().lower()
        if name == b"connection":
            conn += b"," + value.lower()
        elif name == b"content-length":
            length = _content_length(value.strip())
        elif name == b"transfer-encoding":
            raise HttpError(501, "request bodies with Transfer-Encoding are not supported")
    tokens = {t.strip() for t in conn.split(b",")} if conn else set()
    keep = b"close" not in tokens and (not http10 or b"keep-alive" in tokens)
    return Request(parts[0].decode("latin-1"), path, query, http10, keep, length)


def _content_length(value: bytes) -> int:
    if value.isdigit() and len(value) <= 12:
        length = int(value)
        if length <= 1 << 20:
            return length
        raise HttpError(413, "request body too large")
    raise HttpError(400, "malformed Content-Length")
