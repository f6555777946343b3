"""A minimal aiohttp server: the baseline the embedded server is held to (target 4).

Every GET gets a 1 KiB body (``--bytes``). It binds 127.0.0.1 on a free port,
prints ``http://127.0.0.1:PORT`` as its first stdout line, and serves until
SIGTERM/SIGINT. Needs aiohttp (``pip install '.[bench]'``); it is not a
dependency of fetchbench itself.
"""

from __future__ import annotations

import argparse
import socket
import sys

from aiohttp import web


def main(argv: list[str] | None = None) -> int:
    """Serve until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=1024)
    args = parser.parse_args(argv)
    body = b"x" * args.bytes

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    web.run_app(app, sock=sock, print=None, access_log=None, backlog=4096)
    return 0


if __name__ == "__main__":
    sys.exit(main())
