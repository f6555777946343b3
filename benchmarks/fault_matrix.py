"""The README's fault matrix: every strategy x every server fault, expected vs recorded.

    python benchmarks/fault_matrix.py [--rounds 2] [--client requests]

Starts the embedded server on 127.0.0.1, runs every strategy of
``--strategy all`` over ``fetchbench.faults.fault_cases`` and prints a
markdown table: for each fault, how many records carried the expected
error class (``n/n`` is right), then records expected vs recorded per
strategy. Exits 1 when any cell is wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field

from fetchbench.faults import fault_cases, fault_options, refused_port
from fetchbench.record import Record, RunMeta
from fetchbench.runner import Runner, build_plan
from fetchbench.server import EmbeddedServer
from fetchbench.strategies import ALL, STRATEGIES


@dataclass
class Collect:
    """A sink that keeps the records of one strategy's runs."""

    records: list[Record] = field(default_factory=list)

    def add_records(self, records):
        self.records.extend(records)

    def add_run(self, meta: RunMeta) -> None:
        pass

    def save(self, complete: bool, interrupted_at: str | None = None) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--client", default="requests")
    args = parser.parse_args()
    with EmbeddedServer() as server, refused_port() as port:
        cases = fault_cases(server, port)
        urls = [case.url for case in cases]
        options = fault_options(args.client)
        results: dict[str, list[Record]] = {}
        for name in ALL:
            sink = Collect()
            plan = build_plan([STRATEGIES[name]], [4], [1], repeat=args.rounds,
                              url_count=len(urls))
            Runner(urls, options, sink).run(plan)
            results[name] = sink.records
    wrong = 0
    print("| fault | expected | " + " | ".join(ALL) + " |")
    print("|---|---|" + "---|" * len(ALL))
    for index, case in enumerate(cases):
        cells = []
        for name in ALL:
            mine = [r for r in results[name] if r.index == index]
            good = sum(case.matches(r) for r in mine)
            seen = Counter(r.error or "ok" for r in mine)
            cell = f"{good}/{args.rounds}"
            if good != args.rounds or len(mine) != args.rounds:
                wrong += 1
                cell += " (" + ", ".join(f"{k}:{v}" for k, v in seen.items()) + ")"
            cells.append(cell)
        print(f"| {case.name} | {case.error or 'ok'} | " + " | ".join(cells) + " |")
    expected = len(urls) * args.rounds
    print(f"| **records** | {expected} | "
          + " | ".join(str(len(results[name])) for name in ALL) + " |")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
