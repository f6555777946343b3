"""The embedded HTTP test server: delay, size, status and faults from the query string.

It runs in its own process (``python -m fetchbench.server``, or ``EmbeddedServer``
from Python) so it never shares the benchmark's GIL, binds 127.0.0.1 on a free
port by default, and prints its base URL as the first line on stdout. It is
asyncio + stdlib only, HTTP/1.1 with keep-alive (HTTP/1.0 too), TCP_NODELAY, and
writes head and body in one write for bodies up to 256 KiB, so it is never the
bottleneck of the benchmark it serves. Any path is accepted; GET and HEAD.
It never reads or writes files on request.

Query parameters (unknown names are ignored, so URLs may carry cache busters;
a bad or out-of-range value gets a 400 with a one-line reason):

==============  ========  ================================================================
parameter       default   effect
==============  ========  ================================================================
``delay=S``     0         wait S seconds (0..60) before answering
``bytes=N``     1024      body size in bytes (0..1 GiB); a repeating 64-byte text line
``status=C``    200       response status (200..599); the body is still sent, except for
                          204 and 304, which never have one
``close=1``     0         ``Connection: close`` on this response, then close
``chunked=1``   0         ``Transfer-Encoding: chunked`` (16 KiB chunks); to an HTTP/1.0
                          client the body is close-delimited instead
``redirect=N``  0         302 to the same URL with ``redirect=N-1`` (N ≤ 1000); at 0 the
                          normal response, so a large N is a redirect loop for the client
==============  ========  ================================================================

Fault modes (at most one per request; with ``redirect`` only the last hop has it):

==============  ====================================================================
fault           what the client sees
==============  ====================================================================
``reset=1``     the first half of the response's bytes, then a TCP RST (SO_LINGER 0)
``stall=S``     the head (with the full Content-Length), then nothing for S seconds
                (0..60), then the connection closes
``truncate=N``  the head announces the full length; only the first N body bytes
                (0 ≤ N < bytes; counted on the wire, chunk framing included) come,
                then the connection closes
``drip=S``      the head at once, then the body in small pieces spread over S seconds
==============  ====================================================================

``GET /__stats`` returns ``{"connections": C, "requests": R}``: requests served and
the connections that carried them. Requests to /__stats are not counted (nor
their connections, unless they also carried counted requests), so polling the
stats does not change them: 100 requests over one keep-alive session add 1 to
``connections`` and 100 to ``requests``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import sys
from collections.abc import Sequence

from fetchbench.errors import FetchbenchError, UsageError
from fetchbench.rlimits import raise_open_files_limit
from fetchbench.server_http import HttpConnection, ServerState
from fetchbench.server_process import EmbeddedServer

__all__ = ["EmbeddedServer", "main", "run_foreground"]

BACKLOG = 4096  # a gevent-spawn burst connects all at once; 100 would drop SYNs


def base_url(sockname: tuple) -> str:
    """``http://host:port`` for a bound socket's address (IPv6 in brackets)."""
    host, port = sockname[0], sockname[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def is_loopback(address: str) -> bool:
    """True when an IP address is a loopback one (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def bind_warning(address: str) -> str | None:
    """The stderr warning for listening on ``address``, or None for a loopback one."""
    if is_loopback(address):
        return None
    return (
        f"fetchbench: warning: the server listens on {address}, not a loopback address:"
        " other machines may reach it"
    )


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """One line for unexpected event-loop errors; nothing for clients that went away."""
    exc = context.get("exception")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return
    print(f"fetchbench.server: {context.get('message')}: {exc!r}", file=sys.stderr)


async def _listen(host: str, port: int, state: ServerState) -> asyncio.Server:
    """Bind one socket (the first address ``host`` resolves to) and listen."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        address = str(infos[0][4][0])
        return await loop.create_server(
            lambda: HttpConnection(state), address, port, backlog=BACKLOG, reuse_address=True
        )
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` when stdin reaches EOF (the parent process went away)."""
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()

    loop.add_reader(fd, readable)


async def _serve(host: str, port: int, exit_on_stdin_eof: bool) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_loop_exception)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    state = ServerState()
    server = await _listen(host, port, state)
    sockname = server.sockets[0].getsockname()
    warning = bind_warning(sockname[0])
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(base_url(sockname), flush=True)
    if exit_on_stdin_eof:
        _watch_stdin(loop, stop)
    await stop.wait()
    server.close()
    for conn in list(state.open):
        conn.abort()
    await asyncio.sleep(0)  # let the aborted connections report their loss


def run_foreground(
    host: str = "127.0.0.1", port: int = 0, *, exit_on_stdin_eof: bool = False
) -> int:
    """Serve until SIGINT/SIGTERM, printing the base URL as the first stdout line; return 0.

    Raises UsageError when the address cannot be bound.
    """
    raise_open_files_limit()
    # KeyboardInterrupt: Ctrl-C before the loop's signal handlers were in place.
    with contextlib.suppress(KeyboardInterrupt):
        from fetchbench.server_loop import run as run_loop  # epoll: not under gevent's patch

        run_loop(_serve(host, port, exit_on_stdin_eof))
    return 0


def port_number(text: str) -> int:
    """An argparse type: ASCII digits 0..65535 (int() would also take ' 5', '+5', '٣')."""
    if text.isascii() and text.isdigit() and int(text) <= 65535:
        return int(text)
    raise argparse.ArgumentTypeError(f"not a port number (0..65535): {text!r}")


def add_address_arguments(parser: argparse.ArgumentParser) -> None:
    """--host and --port, the same for ``fetchbench serve`` and ``python -m fetchbench.server``."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: 127.0.0.1; others get a warning)")
    parser.add_argument("--port", type=port_number, default=0,
                        help="port (default: 0, any free)")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fetchbench.server [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m fetchbench.server",
        description="Run fetchbench's embedded HTTP test server until Ctrl-C.",
    )
    add_address_arguments(parser)
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="also stop when standard input closes (EmbeddedServer uses this)",
    )
    args = parser.parse_args(argv)
    try:
        return run_foreground(args.host, args.port, exit_on_stdin_eof=args.exit_on_stdin_eof)
    except FetchbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status


if __name__ == "__main__":
    sys.exit(main())
