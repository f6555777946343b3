"""pytest-benchmark suite: each strategy of ``--strategy all`` against the embedded server.

Each strategy runs in its own long-lived child interpreter (gevent patched
only in the gevent children, as in fetchbench itself); a timed round asks the
child to fetch the whole URL list once with fresh fetchers and waits for it
(the pipe round trip is microseconds against a round of tens of ms). So
pytest-benchmark's timings are the strategy's time per list, its pool
start-up included, without interpreter start-up.

    pytest benchmarks/ --benchmark-autosave
    pytest benchmarks/ --benchmark-compare --benchmark-compare-fail=median:10%
    pytest benchmarks/ --benchmark-histogram

Not collected by the unit-test command (``testpaths = ["tests"]``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import BenchSize, StrategyChild
from run import workers_for

from fetchbench.strategies import ALL, STRATEGIES


@pytest.fixture(params=ALL)
def child(request, size: BenchSize, target_urls: list[str]) -> Iterator[StrategyChild]:
    strategy = STRATEGIES[request.param]
    workers = workers_for(strategy.name, size.workers, len(target_urls))
    running = StrategyChild(strategy, workers, target_urls)
    try:
        yield running
    finally:
        running.close()


@pytest.mark.benchmark(group="strategies", disable_gc=True)
def test_strategy(benchmark, child: StrategyChild, size: BenchSize) -> None:
    """Time one fetch of the URL list; every URL must succeed in every round."""
    outcomes: list[dict] = []

    def one_round() -> None:
        outcomes.append(child.round())

    benchmark.extra_info.update(
        strategy=child.strategy.name, urls=size.urls, delay_ms=size.delay_ms,
        workers=size.workers if child.strategy.pooled else None,
    )
    benchmark.pedantic(one_round, rounds=size.rounds, iterations=1, warmup_rounds=1)
    assert all(o["ok"] == size.urls and not o["errors"] for o in outcomes), outcomes
