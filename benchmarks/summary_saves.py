"""The cost of the runner's save after every run: R runs x N rows through a ResultsWriter.

Adds R runs of N synthetic records (2 % errors) to a ``ResultsWriter`` in a
temporary directory, as the runner does (``add_rows`` then ``add_run``), and
times the ``save()`` after each run and the final ``close()``. With
``--commit REV`` the ``fetchbench/results.py`` of that commit is loaded instead
of the working tree's, so the two can be compared::

    python benchmarks/summary_saves.py --commit 987e5be   # before incremental summaries
    python benchmarks/summary_saves.py                    # the working tree

Writes only to a temporary directory; no network.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from fetchbench.record import Record, RunMeta

STRATEGIES = ("serial", "thread", "process", "gevent-pool")


def results_module(commit: str | None) -> ModuleType:
    """``fetchbench.results`` as it is now, or as it was at ``commit``."""
    if commit is None:
        import fetchbench.results

        return fetchbench.results
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "-C", str(root), "show", f"{commit}:fetchbench/results.py"],
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "results_at_commit.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("results_at_commit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rows_of_run(run: int, count: int) -> list[tuple]:
    """``count`` record rows of run ``run``: every 50th a timeout."""
    name = STRATEGIES[run % len(STRATEGIES)]
    return [Record(name, 4, 1, run // len(STRATEGIES) + 1, i, f"http://h/{i}",
                   200 if i % 50 else 0, 1000 + i % 977, 0.001 * i, 0.0004,
                   0.01 + (i % 13) * 1e-3, "" if i % 50 else "timeout",
                   "" if i % 50 else "read timed out").as_row()
            for i in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs (default 20)")
    parser.add_argument("--rows", type=int, default=50_000, help="records per run (default 50000)")
    parser.add_argument("--commit", help="load fetchbench/results.py from this commit")
    args = parser.parse_args(argv)
    results = results_module(args.commit)
    with tempfile.TemporaryDirectory() as directory:
        writer = results.ResultsWriter(directory, "bench", machine={})
        saving = 0.0
        for run in range(args.runs):
            writer.add_rows(rows_of_run(run, args.rows))
            name = STRATEGIES[run % len(STRATEGIES)]
            writer.add_run(RunMeta(name, 4, 1, run // len(STRATEGIES) + 1, wall_s=1.0))
            began = time.perf_counter()
            writer.save(complete=False)
            saving += time.perf_counter() - began
        began = time.perf_counter()
        writer.close(complete=True)
        closing = time.perf_counter() - began
    print(f"{args.commit or 'working tree'}: {args.runs} runs x {args.rows} rows: "
          f"{args.runs} saves {saving:.2f} s, close {closing:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
