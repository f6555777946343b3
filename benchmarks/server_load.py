"""How fast is the embedded server, and why does it write head and body together?

Two measurements, both against 127.0.0.1 only and bounded in time:

1. **Throughput under load**: the embedded server (its own process) serving
   1 KiB bodies to N concurrent keep-alive connections for D seconds, driven by
   ``wrk`` when it is on PATH, else by a small multi-process asyncio load
   generator (``--tool python``; ``--tool both`` runs the two). The server's own
   CPU use is sampled too: near 100 % of one core means the figure is its ceiling.
2. **Nagle + delayed ACK**: mean latency of sequential keep-alive requests (one
   ``requests.Session``) against the embedded server and against a tiny built-in
   server (own process) in three variants: head+body in one write, or in two
   writes with TCP_NODELAY off (the classic ~40 ms stall per response) or on.

Run: ``python benchmarks/server_load.py`` (``--help`` for the knobs).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from fetchbench.server import EmbeddedServer  # noqa: E402

# -- load ---------------------------------------------------------------------------


@dataclass
class LoadResult:
    """One load run: the tool, its figures and the server's CPU use meanwhile."""

    tool: str
    requests_per_s: float
    mean_latency_ms: float
    p99_latency_ms: float | None
    server_cpu_percent: float
    errors: int = 0


def run_wrk(
    url: str, connections: int, duration: float, threads: int
) -> tuple[float, float, float | None, int]:
    """wrk's requests/s, mean and p99 latency (ms), and socket errors."""
    seconds = max(1, round(duration))  # wrk takes whole seconds
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True)
    print(out.stdout)
    rate = float(_find(r"Requests/sec:\s+([\d.]+)", out.stdout))
    mean = _wrk_ms(_find(r"Latency\s+([\d.]+\w+)", out.stdout))
    p99 = _wrk_ms(_find(r"99%\s+([\d.]+\w+)", out.stdout))
    errors = re.search(r"Socket errors: (.*)", out.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    count = sum(int(n) for n in re.findall(r"\d+", errors.group(1))) if errors else 0
    return rate, mean, p99, count + (int(non2xx.group(1)) if non2xx else 0)


def _find(pattern: str, text: str) -> str:
    """The first group of ``pattern`` in wrk's output (a clear error if wrk changed)."""
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in wrk's output:\n{text}")
    return match.group(1)


def _wrk_ms(text: str) -> float:
    value, unit = _find(r"([\d.]+)(\w+)", text), _find(r"[\d.]+(\w+)", text)
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


async def _py_connection(
    host: str, port: int, request: bytes, deadline: float
) -> tuple[int, float, int]:
    """One keep-alive connection, one request at a time: (ok count, latency sum, errors)."""
    reader, writer = await asyncio.open_connection(host, port)
    count, latency, errors = 0, 0.0, 0
    try:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            latency += time.perf_counter() - start
            if head.startswith(b"HTTP/1.1 200"):
                count += 1
            else:
                errors += 1
    except (OSError, asyncio.IncompleteReadError):
        errors += 1
    finally:
        writer.close()
    return count, latency, errors


def _py_worker(url: str, connections: int, duration: float) -> tuple[int, float, int]:
    """One load process: ``connections`` keep-alive loops until the deadline."""
    parts = urlsplit(url)
    request = f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    deadline = time.monotonic() + duration

    async def run() -> list[tuple[int, float, int]]:
        loops = [
            _py_connection(parts.hostname or "127.0.0.1", parts.port or 80, request, deadline)
            for _ in range(connections)
        ]
        # Bounded even if the server stops answering: the deadline plus a grace period.
        return await asyncio.wait_for(asyncio.gather(*loops), duration + 10)

    results = asyncio.run(run())
    return tuple(sum(r[i] for r in results) for i in range(3))  # type: ignore[return-value]


def _ready(_: int) -> None:
    time.sleep(0.05)  # long enough that every pool process gets one


def run_python_load(
    url: str, connections: int, duration: float, procs: int, meter: CpuMeter
) -> tuple[float, float, None, int]:
    """Requests/s and mean latency (ms) from ``procs`` asyncio load processes."""
    shares = [connections // procs + (i < connections % procs) for i in range(procs)]
    with mp.get_context("spawn").Pool(procs) as pool:
        pool.map(_ready, range(procs), chunksize=1)  # started and imported: not measured
        meter.start()
        results = pool.starmap(_py_worker, [(url, n, duration) for n in shares if n])
        meter.stop()
    count = sum(r[0] for r in results)
    latency = sum(r[1] for r in results)
    return count / duration, 1e3 * latency / max(count, 1), None, sum(r[2] for r in results)


@dataclass
class CpuMeter:
    """A process's CPU use (user + system) over a window, as a fraction of one core."""

    pid: int
    _cpu: float = 0.0
    _wall: float = 0.0

    def _now(self) -> tuple[float, float]:
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system, time.perf_counter()

    def start(self) -> None:
        """Open the window."""
        self._cpu, self._wall = self._now()

    def stop(self) -> None:
        """Close the window: ``share`` is then the CPU used over it."""
        cpu, wall = self._now()
        self._cpu, self._wall = cpu - self._cpu, wall - self._wall

    @property
    def share(self) -> float:
        """CPU seconds per wall second over the closed window."""
        return self._cpu / self._wall if self._wall > 0 else 0.0


def measure_load(args: argparse.Namespace, tool: str) -> LoadResult:
    """One bounded load run against a fresh embedded server."""
    with EmbeddedServer() as server:
        url = server.url("/load", bytes=args.bytes)
        requests.get(url, timeout=5).raise_for_status()
        meter = CpuMeter(server.pid)
        if tool == "wrk":
            meter.start()
            figures = run_wrk(url, args.connections, args.duration, args.wrk_threads)
            meter.stop()
        else:
            figures = run_python_load(url, args.connections, args.duration, args.procs, meter)
        stats = server.stats()
    cpu = 100 * meter.share
    print(f"{tool}: {figures[0]:,.0f} req/s; server stats {stats}; server CPU {cpu:.0f}% of a core")
    return LoadResult(tool, figures[0], figures[1], figures[2], cpu, figures[3])


# -- Nagle + delayed ACK ----------------------------------------------------------------


def _builtin_server(port_pipe, split: bool, nodelay: bool, nbytes: int) -> None:
    """A minimal keep-alive server: head+body in one or two writes, Nagle on or off."""
    body = b"x" * nbytes
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % nbytes
    listener = socket.create_server(("127.0.0.1", 0))
    port_pipe.send(listener.getsockname()[1])
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
        buf = b""
        while data := conn.recv(65536):
            buf += data
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                if split:
                    conn.sendall(head)
                    conn.sendall(body)
                else:
                    conn.sendall(head + body)
        conn.close()


def sequential_latency_ms(url: str, count: int, warmup: int = 5) -> float:
    """Mean latency of ``count`` sequential GETs over one keep-alive Session."""
    with requests.Session() as session:
        for _ in range(warmup):
            session.get(url, timeout=5).raise_for_status()
        start = time.perf_counter()
        for _ in range(count):
            session.get(url, timeout=5).raise_for_status()
        return 1e3 * (time.perf_counter() - start) / count


def measure_nagle(args: argparse.Namespace) -> list[tuple[str, float]]:
    """Mean sequential latency against our server and the built-in variants."""
    rows = []
    with EmbeddedServer() as server:
        rows.append(
            (
                "embedded server (one write, TCP_NODELAY on)",
                sequential_latency_ms(server.url("/seq", bytes=args.bytes), args.seq_requests),
            )
        )
    variants = [
        ("built-in: one write, TCP_NODELAY off", False, False),
        ("built-in: two writes, TCP_NODELAY off (bad)", True, False),
        ("built-in: two writes, TCP_NODELAY on", True, True),
    ]
    ctx = mp.get_context("spawn")
    for label, split, nodelay in variants:
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_builtin_server, args=(child, split, nodelay, args.bytes), daemon=True
        )
        proc.start()
        try:
            if not parent.poll(10):
                raise RuntimeError(f"built-in server did not start: {label}")
            url = f"http://127.0.0.1:{parent.recv()}/seq"
            rows.append((label, sequential_latency_ms(url, args.seq_requests)))
        finally:
            proc.terminate()
            proc.join(5)
    for label, ms in rows:
        print(f"{ms:8.2f} ms  {label}")
    return rows


# -- report --------------------------------------------------------------------------------


def machine(load: tuple[float, float, float]) -> str:
    """One line about this machine: CPUs, Python, OS, wrk, and the load average given."""
    parts = [
        f"nproc {len(os.sched_getaffinity(0))} (os.cpu_count {os.cpu_count()})",
        f"Python {platform.python_version()}",
        f"{platform.system()} {platform.release()} {platform.machine()}",
    ]
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout
        parts.append(out.split(" [")[0].strip() or "wrk")
    parts.append("load average {:.2f}/{:.2f}/{:.2f} at the start (1/5/15 min)".format(*load))
    return ", ".join(parts)


def markdown(
    args: argparse.Namespace,
    load: tuple[float, float, float],
    loads: list[LoadResult],
    nagle: list[tuple[str, float]],
) -> str:
    """The figures as markdown tables, for benchmarks/README.md."""
    lines = [f"Machine: {machine(load)}", ""]
    if loads:
        lines += [
            f"Load: {args.connections} keep-alive connections, {args.bytes}-byte bodies, {args.duration:g} s per tool.",
            "",
            "| load generator | requests/s | mean latency | p99 latency | errors | server CPU (one core = 100 %) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in loads:
            p99 = f"{r.p99_latency_ms:.2f} ms" if r.p99_latency_ms is not None else "–"
            lines.append(
                f"| {r.tool} | {r.requests_per_s:,.0f} | {r.mean_latency_ms:.2f} ms | {p99} | {r.errors} | {r.server_cpu_percent:.0f} % |"
            )
        lines.append("")
    if nagle:
        lines += [
            f"Sequential keep-alive GETs ({args.seq_requests} after 5 warm-ups, one requests.Session, {args.bytes}-byte bodies):",
            "",
            "| server | mean latency |",
            "|---|---:|",
        ]
        lines += [f"| {label} | {ms:.2f} ms |" for label, ms in nagle]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of load per tool (default 10)"
    )
    parser.add_argument(
        "--connections", type=int, default=50, help="concurrent connections (default 50)"
    )
    parser.add_argument("--bytes", type=int, default=1024, help="body size (default 1024)")
    parser.add_argument(
        "--tool",
        choices=["auto", "wrk", "python", "both"],
        default="auto",
        help="load generator (auto: wrk if on PATH)",
    )
    parser.add_argument(
        "--wrk-threads",
        type=int,
        default=1,
        help="wrk threads (default 1: one core for wrk, one for the server)",
    )
    parser.add_argument(
        "--procs",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="processes of the Python load generator (default: CPUs)",
    )
    parser.add_argument(
        "--seq-requests",
        type=int,
        default=100,
        help="sequential requests per server in the Nagle demo (default 100)",
    )
    parser.add_argument("--skip-load", action="store_true", help="only the Nagle demo")
    parser.add_argument("--skip-nagle", action="store_true", help="only the load test")
    args = parser.parse_args(argv)
    if not (
        0 < args.duration <= 120 and 0 < args.connections <= 1000 and 0 < args.seq_requests <= 1000
    ):
        parser.error(
            "keep --duration in (0, 120], --connections in [1, 1000], --seq-requests in [1, 1000]"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print a markdown summary."""
    args = parse_args(argv)
    load = os.getloadavg()  # other work on the machine skews every figure: say so
    has_wrk = shutil.which("wrk") is not None
    tools = {"auto": ["wrk" if has_wrk else "python"], "both": ["wrk", "python"]}.get(
        args.tool, [args.tool]
    )
    if "wrk" in tools and not has_wrk:
        print(
            "wrk is not on PATH (apt-get install wrk); using the Python load generator",
            file=sys.stderr,
        )
        tools = ["python"]
    loads = [] if args.skip_load else [measure_load(args, tool) for tool in tools]
    nagle = [] if args.skip_nagle else measure_nagle(args)
    print("\n" + markdown(args, load, loads, nagle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
