"""The cost of the runner's save after every run: R runs x N rows through a ResultsWriter.

Adds R runs of N synthetic records (2 % errors) to a ``ResultsWriter`` in a
temporary directory, as the runner does (``add_rows`` then ``add_run``), and
times the ``save()`` after each run and the final ``close()``. With
``--commit REV`` the whole ``fetchbench/`` package of that commit is extracted
(``run.checkout_package``) and the measurement runs in a child interpreter
that imports fetchbench from there only, so the two can be compared::

    python benchmarks/summary_saves.py --commit 987e5be   # before incremental summaries
    python benchmarks/summary_saves.py                    # the working tree

Writes only to temporary directories; no network.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
sys.path.insert(0, str(ROOT))  # run from a checkout; fetchbench is imported in main()

STRATEGIES = ("serial", "thread", "process", "gevent-pool")


def rows_of_run(run: int, count: int) -> list[tuple]:
    """``count`` record rows of run ``run``: every 50th a timeout."""
    from fetchbench.record import Record

    name = STRATEGIES[run % len(STRATEGIES)]
    return [Record(name, 4, 1, run // len(STRATEGIES) + 1, i, f"http://h/{i}",
                   200 if i % 50 else 0, 1000 + i % 977, 0.001 * i, 0.0004,
                   0.01 + (i % 13) * 1e-3, "" if i % 50 else "timeout",
                   "" if i % 50 else "read timed out").as_row()
            for i in range(count)]


def at_commit(commit: str, args: argparse.Namespace) -> int:
    """This script again in a child interpreter, on ``fetchbench/`` as it was at ``commit``."""
    sys.path.insert(0, str(BENCHMARKS))
    import run  # benchmarks/run.py: it imports this checkout's fetchbench, hence the child

    with tempfile.TemporaryDirectory(prefix="fetchbench-at-") as tmp:
        code = run.checkout_package(commit, Path(tmp))
        return subprocess.run([sys.executable, __file__, "--runs", str(args.runs),
                               "--rows", str(args.rows), "--code", str(code),
                               "--label", commit], check=False).returncode


def measure(runs: int, rows: int, label: str) -> None:
    """Add ``runs`` runs of ``rows`` records, time the saves and the close, print them."""
    from fetchbench.record import RunMeta
    from fetchbench.results import ResultsWriter

    with tempfile.TemporaryDirectory() as directory:
        writer = ResultsWriter(directory, "bench", machine={})
        saving = 0.0
        for run in range(runs):
            writer.add_rows(rows_of_run(run, rows))
            name = STRATEGIES[run % len(STRATEGIES)]
            writer.add_run(RunMeta(name, 4, 1, run // len(STRATEGIES) + 1, wall_s=1.0))
            began = time.perf_counter()
            writer.save(complete=False)
            saving += time.perf_counter() - began
        began = time.perf_counter()
        writer.close(complete=True)
        closing = time.perf_counter() - began
    print(f"{label}: {runs} runs x {rows} rows: "
          f"{runs} saves {saving:.2f} s, close {closing:.3f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs (default 20)")
    parser.add_argument("--rows", type=int, default=50_000, help="records per run (default 50000)")
    parser.add_argument("--commit", help="measure fetchbench/ as it was at this commit")
    # the child of --commit: the directory holding that commit's fetchbench/, and its name
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--label", default="working tree", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.commit:
        return at_commit(args.commit, args)
    if args.code:
        sys.path.insert(0, str(args.code))
    import fetchbench

    where = Path(fetchbench.__file__).resolve().parent.parent
    if where != (args.code or ROOT).resolve():
        raise SystemExit(f"fetchbench was imported from {where}, not {args.code or ROOT}")
    measure(args.runs, args.rows, args.label)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
