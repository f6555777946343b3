"""Issue 6's performance targets, measured on this machine, in one table.

``python benchmarks/run.py [--quick] [--only 1,2,...]`` runs each target against
127.0.0.1 only (the embedded server, hey, wrk, a minimal aiohttp server),
bounded in count and time, and prints: target, figure, goal, verdict. Every
figure is a median over several repetitions, and every ratio is taken within
one repetition (tool and baseline back to back, order alternating), because
these small machines are shared and noisy. fetchbench itself is run as users
run it: the ``fetchbench`` command (``python -m fetchbench``) in a child
process, results saved to a temporary directory.

1. Little's law: latency-bound list (100 ms, 50 workers) vs workers ÷ latency.
2. Overhead: zero-delay 1 KiB list, each strategy vs a minimal hand-written
   loop (``benchmarks/baselines.py``), same client, same concurrency.
3. Latency fidelity: p50 of a 50 ms endpoint at 10 workers vs 50 ms and vs hey.
4. Server headroom: the embedded server under wrk vs the fastest strategy,
   and vs a minimal aiohttp server (``benchmarks/aiohttp_server.py``).
5. Scale: a 1,000,000-URL list through gevent-pool: the parent's peak RSS and
   the time to summarize the records file.
6. Start-up: ``fetchbench --help`` vs ``python -c pass``.
7. Peers: the best strategy's throughput as a fraction of hey's, per client.

A peer tool that is absent (hey, wrk, aiohttp) turns its rows into "skip"
with the reason; nothing else is skipped. ``--quick`` shrinks every list and
repetition count (target 5 then runs 100,000 URLs, and says so).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

from fetchbench.server import EmbeddedServer  # noqa: E402
from fetchbench.strategies import CLASSIC  # noqa: E402
from fetchbench.strategies import STRATEGIES as REGISTRY  # noqa: E402

BASELINES = Path(__file__).with_name("baselines.py")
AIOHTTP_SERVER = Path(__file__).with_name("aiohttp_server.py")
STRATEGIES = CLASSIC  # the five classic strategies, from the registry
CLIENTS = ("requests", "urllib3", "geventhttpclient")
GEVENT_CLIENTS = ("geventhttpclient",)  # gevent strategies only
CHILD_TIMEOUT = 600.0
SCALE_TIMEOUT = 1800.0  # target 5 fetches a million URLs (~2.5 min here, ~8 with urllib3)
MIB = 2**20
T = TypeVar("T")


@dataclass(frozen=True)
class Size:
    """How much each target runs: the full run (~10.5–11 min) or --quick (~1.5 min)."""

    reps: int = 5
    little_urls: int = 500
    little_serial_urls: int = 30
    overhead_urls: int = 2000
    concurrency: int = 10
    latency_urls: int = 200
    wrk_seconds: int = 3
    scale_urls: int = 1_000_000
    scale_max_time: float | None = None  # None: every URL is fetched
    startup_runs: int = 21


FULL = Size()
QUICK = Size(reps=2, little_urls=150, little_serial_urls=10, overhead_urls=600,
             latency_urls=60, wrk_seconds=1, scale_urls=100_000, scale_max_time=5.0,
             startup_runs=11)


@dataclass
class Row:
    """One line of the final table."""

    target: str
    figure: str
    goal: str
    verdict: str  # pass, FAIL, skip, info


@dataclass
class Facts:
    """Figures one target leaves for another (the fastest strategy for target 4)."""

    tool_rps: dict[tuple[str, str], float] = field(default_factory=dict)  # (client, strategy)
    overhead: dict[tuple[str, str], list[dict]] = field(default_factory=dict)  # probes


def median(values: Sequence[float]) -> float:
    """The median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


def verdict(ok: bool) -> str:
    """pass / FAIL."""
    return "pass" if ok else "FAIL"


def say(text: str) -> None:
    """Progress and details, on stderr so stdout is the table."""
    print(text, file=sys.stderr, flush=True)


# -- running things ------------------------------------------------------------------


def workers_for(strategy: str, workers: int, url_count: int) -> int:
    """A strategy's concurrency: ``workers`` if it takes --workers, else its own.

    serial 1, gevent-spawn one per URL (the registry's rule, as the runner's).
    """
    known = REGISTRY[strategy]
    return workers if known.pooled else known.default_workers(1, url_count)


def alternate(measures: Sequence[tuple[str, Callable[[], T]]], turn: int) -> dict[str, T]:
    """Run the measures back to back, in order on an even ``turn``, reversed on an odd one.

    What goes first alternates from one repetition to the next, so neither side
    always pays (or profits from) going first; the results by name.
    """
    order = measures[::-1] if turn % 2 else measures
    return {name: measure() for name, measure in order}


def checkout_package(rev: str, into: Path) -> Path:
    """Extract ``fetchbench/`` as it is at commit ``rev`` into ``into``; returns ``into``.

    ``git archive`` of this checkout, so the whole package is that commit's
    (no module of the working tree mixed in). Put the returned directory first
    on ``PYTHONPATH`` or ``sys.path`` to import that fetchbench; removing
    ``into`` afterwards is the caller's.
    """
    archive = subprocess.run(["git", "archive", rev, "fetchbench"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def fetchbench_command(urls_file: Path, strategies: Sequence[str], out: Path,
                       *options: str) -> list[str]:
    """``python -m fetchbench`` as users run it: JSON summary on stdout, results in ``out``."""
    return [sys.executable, "-m", "fetchbench", str(urls_file), "-s", ",".join(strategies),
            "--format", "json", "-q", "-o", str(out), *options]


def run_fetchbench(
    workdir: Path, urls_file: Path, strategies: Sequence[str], workers: int | None,
    client: str = "requests", repeat: int = 1, extra: Sequence[str] = (),
) -> tuple[list[dict], list[dict]]:
    """Run the ``fetchbench`` command; its summary rows and the saved runs (with probes)."""
    out = Path(tempfile.mkdtemp(dir=workdir, prefix="results-"))
    cmd = fetchbench_command(urls_file, strategies, out, "--client", client,
                             "--repeat", str(repeat), *extra)
    if workers is not None:
        cmd += ["-w", str(workers)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"fetchbench failed ({done.returncode}): {done.stderr[-2000:]}")
    rows = json.loads(done.stdout)
    doc = json.loads(next(out.glob("*.json")).read_text())
    shutil.rmtree(out, ignore_errors=True)
    return rows, doc["runs"]


@dataclass
class Measured:
    """One measured run: throughput, and CPU per request of every process involved."""

    req_per_s: float
    cpu_ms_per_req: float  # every process's CPU over the run, interpreter start-up excluded
    probe: dict = field(default_factory=dict)


def cpu_seconds(who: int) -> float:
    """User + system CPU seconds of ``who`` (RUSAGE_SELF, or the reaped RUSAGE_CHILDREN)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_tool(workdir: Path, urls: Sequence[str], strategy: str, workers: int,
             client: str) -> Measured:
    """One strategy run as the fetchbench command does it (Runner, fresh child, CSV writer).

    In this process, so the parent's CPU can be measured: the child's over
    its run (its probe's ``cpu_run_s``) plus this process's over the run.
    """
    from fetchbench.results import ResultsWriter
    from fetchbench.runner import FetchOptions, PlannedRun, Runner

    writer = ResultsWriter(workdir / "tool-results", options={"client": client})
    planned = PlannedRun(REGISTRY[strategy], workers, len(os.sched_getaffinity(0)), 1)
    before = cpu_seconds(resource.RUSAGE_SELF)
    meta = Runner(urls, FetchOptions(client=client), writer).run_one(planned)
    parent = cpu_seconds(resource.RUSAGE_SELF) - before
    writer.close(complete=True)
    row = writer.summary().iloc[0]
    for path in (writer.json_path, writer.csv_path):
        path.unlink()
    if int(row["ok"]) != len(urls):
        raise RuntimeError(f"fetchbench {strategy}: {row['ok']}/{len(urls)} ok")
    cpu = meta.probe["cpu_run_s"] + parent
    return Measured(float(row["req_per_s"]), 1000 * cpu / len(urls), meta.probe)


def run_baseline(strategy: str, workers: int, client: str, urls: Sequence[str]) -> Measured:
    """One minimal loop in a fresh interpreter (benchmarks/baselines.py)."""
    job = json.dumps({"strategy": strategy, "workers": workers, "client": client,
                      "urls": list(urls)})
    done = subprocess.run([sys.executable, str(BASELINES)], input=job, capture_output=True,
                          text=True, timeout=CHILD_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"baseline {strategy} failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    if result["ok"] != len(urls):
        raise RuntimeError(f"baseline {strategy}: {result['ok']}/{len(urls)} ok")
    return Measured(result["req_per_s"], 1000 * result["cpu_run_s"] / len(urls))


def tool_and_loop(workdir: Path, urls: Sequence[str], strategy: str, workers: int,
                  client: str, turn: int) -> tuple[Measured, Measured]:
    """One pair: fetchbench and its minimal loop back to back (the loop first on odd turns)."""
    got = alternate([("tool", lambda: run_tool(workdir, urls, strategy, workers, client)),
                     ("loop", lambda: run_baseline(strategy, workers, client, urls))], turn)
    return got["tool"], got["loop"]


def run_hey(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """hey's requests/s and p50 (ms) for ``requests`` GETs at ``concurrency``."""
    done = subprocess.run(["hey", "-n", str(requests), "-c", str(concurrency), url],
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=True)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    p50 = re.search(r"50% in ([\d.]+) secs", done.stdout)
    if rate is None or p50 is None or "Error distribution" in done.stdout:
        raise RuntimeError(f"hey: unexpected output or errors:\n{done.stdout}")
    return float(rate.group(1)), 1000 * float(p50.group(1))


def run_wrk(url: str, connections: int, seconds: int) -> float:
    """wrk's requests/s (one thread, so wrk and the server get a core each)."""
    done = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
                          capture_output=True, text=True, timeout=seconds + 60, check=True)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if rate is None or "Non-2xx" in done.stdout:
        raise RuntimeError(f"wrk: unexpected output or errors:\n{done.stdout}")
    return float(rate.group(1))


@contextlib.contextmanager
def aiohttp_server() -> Iterator[str]:
    """The minimal aiohttp server in its own process; yields its base URL."""
    process = subprocess.Popen([sys.executable, str(AIOHTTP_SERVER)], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        base = process.stdout.readline().strip()
        if not base.startswith("http://"):
            raise RuntimeError("the aiohttp server did not start")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def have(tool: str) -> bool:
    """True when ``tool`` is on PATH."""
    return shutil.which(tool) is not None


def installed(module: str) -> bool:
    """True when ``module`` can be imported (aiohttp, geventhttpclient: the bench extra)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


def clients() -> list[str]:
    """The clients to measure: every one installed (requests and urllib3 always are)."""
    return [c for c in CLIENTS if c not in GEVENT_CLIENTS or installed(c)]


def registered(names: Sequence[str]) -> list[str]:
    """Those of ``names`` that this fetchbench has and can run (dependencies installed)."""
    return [n for n in names if n in REGISTRY and REGISTRY[n].installed]


def strategies_for(client: str) -> tuple[str, ...]:
    """The strategies a client works with (the gevent-only ones: the gevent strategies)."""
    return STRATEGIES if client not in GEVENT_CLIENTS else ("gevent-spawn", "gevent-pool")


def write_urls(workdir: Path, name: str, urls: Iterable[str]) -> Path:
    """A URL file in the work directory."""
    path = workdir / f"{name}.txt"
    with path.open("w") as fh:
        fh.writelines(url + "\n" for url in urls)
    return path


OVERHEAD_KEYS = (("gap_p50_ms", 1000, "gap p50"), ("emit_us_mean", 1, "emit"),
                 ("parent_us_per_record", 1, "parent"))


def overhead_line(probes: Sequence[dict]) -> str:
    """Medians of the tool-overhead figures of several runs' probes, in µs."""
    parts = []
    for key, scale, label in OVERHEAD_KEYS:
        values = [p[key] * scale for p in probes if p.get(key) is not None]
        parts.append(f"{label} {median(values):7.1f}" if values else f"{label}       -")
    return "  ".join(parts)


# -- the targets ------------------------------------------------------------------


class Bench:
    """The targets, sharing one embedded server and a work directory."""

    def __init__(self, size: Size, server: EmbeddedServer, workdir: Path) -> None:
        self.size = size
        self.server = server
        self.workdir = workdir
        self.facts = Facts()

    def little(self) -> list[Row]:
        """Target 1: throughput on a latency-bound list vs the Little's-law ideal, per client."""
        size, workers, delay = self.size, 50, 0.1
        urls = [self.server.url(f"/little/{i}", delay=delay, bytes=1024)
                for i in range(size.little_urls)]
        urls_file = write_urls(self.workdir, "little", urls)
        serial_file = write_urls(self.workdir, "little-serial", urls[: size.little_serial_urls])
        out = []
        for client in clients():
            names = strategies_for(client)
            pooled = [n for n in ("thread", "gevent-pool", "gevent-spawn", "process") if n in names]
            rows, _ = run_fetchbench(self.workdir, urls_file, pooled, workers, client,
                                     repeat=size.reps)
            if "serial" in names:
                rows += run_fetchbench(self.workdir, serial_file, ["serial"], None, client,
                                       repeat=size.reps)[0]
            for name, ideal, share in [("thread", 500, 0.95), ("gevent-pool", 500, 0.95),
                                       ("gevent-spawn", 500, 0.95), ("serial", 10, 0.95),
                                       ("process", workers / delay, 0.90)]:
                if name not in names:
                    continue
                rates = [r["req_per_s"] for r in rows if r["strategy"] == name]
                rate = median(rates)
                # req/s ÷ (workers ÷ measured mean latency): the ideal at the latency seen
                efficiency = median([r["efficiency"] for r in rows if r["strategy"] == name])
                say(f"1 {client} {name}: {[round(r, 1) for r in rates]} req/s")
                loop = self._little_loop(name, client, urls, workers)
                out.append(Row(f"1 Little's law: {name} ({client})",
                               f"{rate:.1f} req/s ({rate / ideal:.1%} of {ideal:g}); "
                               f"minimal loop {loop / ideal:.1%}; "
                               f"{efficiency:.1%} of workers ÷ mean latency",
                               f">= {share:.0%} of {ideal:g} req/s",
                               verdict(rate >= share * ideal)))
        return out

    def _little_loop(self, name: str, client: str, urls: list[str], workers: int) -> float:
        """The minimal loop's median req/s on target 1's list: the model's own ceiling here."""
        if name == "serial":
            urls = urls[: self.size.little_serial_urls]
        workers = workers_for(name, workers, len(urls))
        rates = [run_baseline(name, workers, client, urls).req_per_s for _ in range(self.size.reps)]
        say(f"1 {client} {name} minimal loop: {[round(r, 1) for r in rates]} req/s")
        return median(rates)

    def overhead_and_peers(self) -> list[Row]:
        """Targets 2 and 7: each strategy vs its minimal loop, and the best vs hey."""
        urls = [self.server.url(f"/zero/{i}", bytes=1024) for i in range(self.size.overhead_urls)]
        rows2: list[Row] = []
        rows7: list[Row] = []
        peer_ratio: dict[str, float] = {}
        for client in clients():
            got = self._overhead(client, urls)
            rows2 += got[0]
            rows7.append(got[1])
            if got[2] is not None:
                peer_ratio[client] = got[2]
        default = CLIENTS[0]
        for row, client in zip(rows7, clients(), strict=True):
            if client != default and client in peer_ratio and default in peer_ratio:
                row.goal = f"above {default}' ratio"
                row.verdict = verdict(peer_ratio[client] > peer_ratio[default])
        if not installed("geventhttpclient"):
            rows7.append(Row("7 peers: best strategy / hey (geventhttpclient)",
                             "geventhttpclient not installed (pip install '.[bench]'), skipped",
                             "report", "skip"))
        aiohttp_strategies = registered(["asyncio", "process-asyncio"])
        if aiohttp_strategies and have("hey"):
            rows7.append(self._peers_only("aiohttp", aiohttp_strategies, urls))
        return rows2 + rows7

    def _peers_only(self, label: str, names: Sequence[str], urls: list[str]) -> Row:
        """Target 7 for strategies that bring their own client (no minimal loop to hold to)."""
        c = self.size.concurrency
        best_rates: list[tuple[str, float, float]] = []
        for rep in range(self.size.reps):
            got = {s: run_tool(self.workdir, urls, s, c, CLIENTS[0]).req_per_s for s in names}
            hey_rate, _ = run_hey(self.server.url("/zero/hey", bytes=1024),
                                  max(2000, 5 * len(urls)), c)
            best = max(got, key=got.__getitem__)
            best_rates.append((best, got[best], hey_rate))
            say(f"7 {label} rep {rep + 1}: {got}, hey {hey_rate:.0f} req/s")
        ratio = median([b[1] / b[2] for b in best_rates])
        bests = "/".join(sorted({b[0] for b in best_rates}))
        return Row(f"7 peers: best strategy / hey ({label} strategies, c={c})",
                   f"{ratio:.1%} ({bests} {median([b[1] for b in best_rates]):.0f} vs hey "
                   f"{median([b[2] for b in best_rates]):.0f} req/s)", "report", "info")

    def _overhead(self, client: str, urls: list[str]) -> tuple[list[Row], Row, float | None]:
        """Target 2's rows, target 7's row and ratio, for one client.

        Each repetition runs every strategy and its minimal loop back to back
        (which goes first alternates), then hey; ratios are taken per pair.
        """
        size, c = self.size, self.size.concurrency
        use_hey = have("hey")
        names = strategies_for(client)
        ratios: dict[str, list[float]] = {s: [] for s in names}
        cpu_ratios: dict[str, list[float]] = {s: [] for s in names}
        tool: dict[str, list[float]] = {s: [] for s in names}
        best_rates: list[tuple[str, float, float]] = []
        workers = {s: workers_for(s, c, len(urls)) for s in names}
        for rep in range(size.reps):
            got: dict[str, float] = {}
            for n, s in enumerate(names):
                ours, base = tool_and_loop(self.workdir, urls, s, workers[s], client, rep + n)
                got[s] = ours.req_per_s
                tool[s].append(ours.req_per_s)
                ratios[s].append(ours.req_per_s / base.req_per_s)
                cpu_ratios[s].append(ours.cpu_ms_per_req / base.cpu_ms_per_req)
                self.facts.overhead.setdefault((client, s), []).append(
                    ours.probe.get("overhead", {}))
                say(f"2 {client} rep {rep + 1} {s}: fetchbench {ours.req_per_s:.0f} req/s "
                    f"{ours.cpu_ms_per_req:.3f} cpu ms/req; minimal loop "
                    f"{base.req_per_s:.0f} req/s {base.cpu_ms_per_req:.3f} cpu ms/req; "
                    f"overhead {ours.probe.get('overhead')}")
            for extra in registered(["process-gevent"]):  # no baseline: a candidate for 7
                got[extra] = run_tool(self.workdir, urls, extra, c, client).req_per_s
                say(f"7 {client} rep {rep + 1} {extra}: fetchbench {got[extra]:.0f} req/s")
            if use_hey:
                hey_rate, _ = run_hey(self.server.url("/zero/hey", bytes=1024),
                                      max(2000, 5 * len(urls)), c)
                best = max((s for s in got if s != "gevent-spawn"), key=got.__getitem__)
                best_rates.append((best, got[best], hey_rate))
                say(f"7 {client} rep {rep + 1}: best {best} {got[best]:.0f} req/s, "
                    f"hey {hey_rate:.0f} req/s")
        rows: list[Row] = []
        for s in names:
            self.facts.tool_rps[(client, s)] = median(tool[s])
            ratio = median(ratios[s])
            conc = "N" if s == "gevent-spawn" else str(workers[s])
            rows.append(Row(f"2 overhead: {s} ({client}, c={conc})",
                            f"{ratio:.1%} of the minimal loop ({median(tool[s]):.0f} req/s; "
                            f"CPU/req {median(cpu_ratios[s]) - 1:+.1%})",
                            ">= 95%", verdict(ratio >= 0.95)))
        name = f"7 peers: best strategy / hey ({client}, c={c})"
        if not use_hey:
            return rows, Row(name, "hey absent, skipped", "report", "skip"), None
        ratio = median([b[1] / b[2] for b in best_rates])
        bests = "/".join(sorted({b[0] for b in best_rates}))
        figure = (f"{ratio:.1%} ({bests} {median([b[1] for b in best_rates]):.0f} vs hey "
                  f"{median([b[2] for b in best_rates]):.0f} req/s)")
        return rows, Row(name, figure, "report", "info"), ratio

    def latency(self) -> list[Row]:
        """Target 3: p50 of a 50 ms endpoint at 10 workers, vs 50 ms and vs hey."""
        size, workers = self.size, 10
        urls = [self.server.url(f"/fifty/{i}", delay=0.05, bytes=1024)
                for i in range(size.latency_urls)]
        urls_file = write_urls(self.workdir, "fifty", urls)
        names = ("thread", "gevent-pool")
        p50: dict[str, list[float]] = {n: [] for n in names}
        vs_hey: dict[str, list[float]] = {n: [] for n in names}
        hey_p50: list[float] = []
        for _ in range(size.reps):
            rows, _ = run_fetchbench(self.workdir, urls_file, names, workers)
            peer = run_hey(self.server.url("/fifty/hey", delay=0.05, bytes=1024),
                           len(urls), workers)[1] if have("hey") else None
            if peer is not None:
                hey_p50.append(peer)
            for r in rows:
                p50[r["strategy"]].append(r["p50_ms"])
                if peer is not None:
                    vs_hey[r["strategy"]].append(r["p50_ms"] / peer - 1)
        say(f"3 p50 ms: {p50}; hey: {hey_p50}")
        out = []
        for n in names:
            value = median(p50[n])
            out.append(Row(f"3 latency: p50 vs 50 ms ({n}, 10 workers)",
                           f"{value:.2f} ms ({value / 50 - 1:+.1%})", "within 5%",
                           verdict(abs(value / 50 - 1) <= 0.05)))
            if hey_p50:
                diff = median(vs_hey[n])
                out.append(Row(f"3 latency: p50 vs hey ({n}, 10 workers)",
                               f"{value:.2f} vs {median(hey_p50):.2f} ms ({diff:+.1%})",
                               "within 5%", verdict(abs(diff) <= 0.05)))
            else:
                out.append(Row(f"3 latency: p50 vs hey ({n}, 10 workers)",
                               "hey absent, skipped", "within 5%", "skip"))
        return out

    def server_headroom(self) -> list[Row]:
        """Target 4: the embedded server under wrk vs the fastest strategy and vs aiohttp."""
        size = self.size
        first, second = "4 server: wrk vs fastest strategy", "4 server: vs minimal aiohttp"
        if not have("wrk"):
            return [Row(first, "wrk absent, skipped", ">= 5x", "skip"),
                    Row(second, "wrk absent, skipped", ">= 80%", "skip")]
        url = self.server.url("/wrk", bytes=1024)
        use_aiohttp = installed("aiohttp")
        ours: list[float] = []
        ratios: list[float] = []
        theirs: list[float] = []
        with contextlib.ExitStack() as stack:
            base = stack.enter_context(aiohttp_server()) if use_aiohttp else None
            targets = [("ours", url)]
            if base is not None:
                targets.append(("theirs", base + "/wrk"))
            wrks = [(name, lambda u=u: run_wrk(u, 50, size.wrk_seconds)) for name, u in targets]
            for rep in range(size.reps):
                got = alternate(wrks, rep)
                ours.append(got["ours"])
                if "theirs" in got:
                    theirs.append(got["theirs"])
                    ratios.append(got["ours"] / got["theirs"])
        say(f"4 wrk: embedded {ours}; aiohttp {theirs}")
        served = median(ours)
        fastest_key = max(self.facts.tool_rps, key=self.facts.tool_rps.get, default=None)
        rows = []
        if fastest_key is None:
            rows.append(Row(first, f"{served:.0f} req/s (target 2 not run)", ">= 5x", "skip"))
        else:
            fastest = self.facts.tool_rps[fastest_key]
            rows.append(Row(first, f"{served:.0f} req/s = {served / fastest:.1f}x "
                                   f"{fastest_key[1]}/{fastest_key[0]} ({fastest:.0f} req/s)",
                            ">= 5x", verdict(served >= 5 * fastest)))
        if use_aiohttp:
            ratio = median(ratios)
            rows.append(Row(second, f"{ratio:.0%} ({served:.0f} vs {median(theirs):.0f} req/s)",
                            ">= 80%", verdict(ratio >= 0.8)))
        else:
            rows.append(Row(second, "aiohttp not installed (pip install '.[bench]'), skipped",
                            ">= 80%", "skip"))
        return rows

    def scale(self) -> list[Row]:
        """Target 5: a million-URL list through gevent-pool: parent RSS, summary time."""
        from fetchbench.results import load_results, read_records
        from fetchbench.stats import STATS_COLUMNS, summarize

        size = self.size
        few = [self.server.url(f"/scale/{i}", bytes=1024) for i in range(4)]
        path = write_urls(self.workdir, "million", (few[i % 4] for i in range(size.scale_urls)))
        out = self.workdir / "scale-results"
        client = "geventhttpclient" if installed("geventhttpclient") else "urllib3"  # fastest
        cut = [] if size.scale_max_time is None else ["--max-time", str(size.scale_max_time)]
        cmd = fetchbench_command(path, ["gevent-pool"], out, "-w", "50", "--client", client, *cut)
        began = time.perf_counter()
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        peak = sample_peak_rss(process.pid, lambda: process.poll() is not None)
        stdout, stderr = process.communicate(timeout=SCALE_TIMEOUT)
        wall = time.perf_counter() - began
        if process.returncode != 0:
            raise RuntimeError(f"fetchbench failed: {stderr.decode()[-2000:]}")
        summary_row = json.loads(stdout)[0]
        json_path = next(out.glob("*.json"))
        results = load_results(json_path)
        began = time.perf_counter()
        summary = summarize(read_records(results.records_path, STATS_COLUMNS), results.runs)
        summary_s = time.perf_counter() - began
        records = int(summary["requests"].sum())
        csv_mib = results.records_path.stat().st_size / MIB
        shutil.rmtree(out, ignore_errors=True)
        say(f"5 {size.scale_urls} URLs ({client}): {summary_row['ok']} fetched, "
            f"{records} records, CSV {csv_mib:.0f} MiB, parent peak RSS {peak / MIB:.0f} MiB, "
            f"command wall {wall:.0f} s, summary from file {summary_s:.2f} s")
        label = f"{size.scale_urls:,} URLs"
        fetched = f"{summary_row['ok']:,} fetched in {wall:.0f} s"
        if size.scale_max_time is not None:
            fetched += f", the rest not_run after --max-time {size.scale_max_time:g}"
        return [
            Row(f"5 scale: parent peak RSS ({label}, gevent-pool, {client})",
                f"{peak / MIB:.0f} MiB ({fetched})", "< 500 MiB", verdict(peak < 500 * MIB)),
            Row(f"5 scale: summary from the records file ({records:,} rows)",
                f"{summary_s:.2f} s", "< 10 s", verdict(summary_s < 10)),
        ]

    def startup(self) -> list[Row]:
        """Target 6: ``fetchbench --help`` vs ``python -c pass``, interleaved."""
        script = Path(sys.executable).with_name("fetchbench")
        help_cmd = ([str(script), "--help"] if script.exists()
                    else [sys.executable, "-m", "fetchbench", "--help"])

        def timed(cmd: list[str]) -> float:
            began = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, timeout=60)
            return time.perf_counter() - began

        times: dict[str, list[float]] = {"pass": [], "help": []}
        both = [("pass", lambda: timed([sys.executable, "-c", "pass"])),
                ("help", lambda: timed(help_cmd))]
        for n in range(self.size.startup_runs):
            for name, seconds in alternate(both, n).items():
                times[name].append(seconds)
        bare, helped = median(times["pass"]), median(times["help"])
        say(f"6 start-up: python -c pass {bare * 1000:.0f} ms, "
            f"{' '.join(help_cmd)} {helped * 1000:.0f} ms")
        return [Row("6 start-up: fetchbench --help / python -c pass",
                    f"{helped / bare:.2f}x ({helped * 1000:.0f} vs {bare * 1000:.0f} ms)",
                    "<= 2x", verdict(helped <= 2 * bare))]


def sample_peak_rss(pid: int, done: Callable[[], bool], every: float = 0.1) -> int:
    """Peak resident memory of one process (not its children) until ``done()``."""
    import psutil

    peak = 0
    try:
        process = psutil.Process(pid)
        while not done():
            peak = max(peak, process.memory_info().rss)
            time.sleep(every)
    except psutil.Error:
        pass
    return peak


# -- the table ------------------------------------------------------------------------


def machine() -> str:
    """nproc, Python, CPU model and load: the line every figure is quoted with."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"nproc {len(os.sched_getaffinity(0))}, Python {platform.python_version()}, "
            f"{model}, {platform.system()} {platform.release()}, load average {load}")


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (readable as text, pasteable into the README)."""
    lines = ["| target | figure | goal | verdict |", "|---|---|---|---|"]
    lines += [f"| {r.target} | {r.figure} | {r.goal} | {r.verdict} |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the targets asked for; print the table; exit 1 if any row failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller lists, fewer repetitions")
    parser.add_argument("--only", default="1,2,3,4,5,6,7", help="targets to run, e.g. 2,7")
    parser.add_argument("--reps", type=int, help="repetitions (default 5, --quick 2)")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    if args.reps:
        size = Size(**{**size.__dict__, "reps": args.reps})
    only = {int(t) for t in args.only.split(",") if t.strip()}
    began = time.perf_counter()
    header = machine()
    say(f"machine: {header}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fetchbench-perf-") as tmp, EmbeddedServer() as srv:
        bench = Bench(size, srv, Path(tmp))
        steps: list[tuple[set[int], Callable[[], list[Row]]]] = [
            ({6}, bench.startup), ({1}, bench.little), ({2, 7}, bench.overhead_and_peers),
            ({3}, bench.latency), ({4}, bench.server_headroom), ({5}, bench.scale),
        ]
        for targets, step in steps:
            if targets & only:
                say(f"-- {step.__doc__.splitlines()[0]}")
                rows += step()
        overheads = bench.facts.overhead
    rows.sort(key=lambda r: r.target.split(" ")[0])
    print(f"machine: {header}")
    print(f"command: python benchmarks/run.py{' --quick' if args.quick else ''}"
          f"{'' if args.only == parser.get_default('only') else ' --only ' + args.only}"
          f"; {size.reps} repetitions; took {time.perf_counter() - began:.0f} s\n")
    print(table(rows))
    if overheads:
        print("\ntool overhead per request in us, from each run's probe (median over runs):"
              "\ngap p50 = a worker's end of one request to start of its next; emit = in"
              " the child's emit; parent = parent's handling per record")
        for (client, strategy), probes in sorted(overheads.items()):
            print(f"  {client:9} {strategy:13} {overhead_line(probes)}")
    return 1 if any(r.verdict == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
