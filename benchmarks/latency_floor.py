"""The embedded server's latency floor: sequential GETs from a raw socket, no HTTP library.

One keep-alive connection, one request at a time, the response read until its
Content-Length is in; the median and minimum round trip per delay. This is
what any client at best can see from the server on this machine (target 3 of
``run.py``: the server's timer wake-up is part of it)::

    python benchmarks/latency_floor.py --delays 0,0.05 --requests 60

Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fetchbench.server import EmbeddedServer  # noqa: E402


def round_trip(sock: socket.socket, request: bytes) -> float:
    """Seconds from sending ``request`` to having the whole response."""
    began = time.perf_counter()
    sock.sendall(request)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            continue
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        if len(body) >= length:
            return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delays", default="0,0.05", help="server delays, s (default 0,0.05)")
    parser.add_argument("--requests", type=int, default=60, help="per delay (default 60)")
    args = parser.parse_args(argv)
    with EmbeddedServer() as server:
        for delay in (float(d) for d in args.delays.split(",")):
            parts = urlsplit(server.url("/floor", delay=delay, bytes=1024))
            request = (f"GET {parts.path}?{parts.query} HTTP/1.1\r\n"
                       f"Host: {parts.netloc}\r\n\r\n").encode()
            with socket.create_connection((parts.hostname, parts.port)) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                times = [round_trip(sock, request) for _ in range(args.requests)]
            print(f"delay {delay * 1000:g} ms: median {statistics.median(times) * 1000:.2f} ms, "
                  f"min {min(times) * 1000:.2f} ms ({args.requests} sequential GETs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
