"""Every strategy against a list mixing every fault with healthy URLs.

For each strategy and each HTTP client: records == URLs x rounds, each fault
gets its error class, and the healthy URLs' byte counts are exact. The run
never hangs. The cases are ``fetchbench.faults.fault_cases``, the same list
``benchmarks/fault_matrix.py`` prints the README's table from.
"""

from __future__ import annotations

from collections import Counter

import pytest

from fetchbench import faults
from fetchbench.faults import fault_cases
from fetchbench.fetch import CLIENTS, GEVENT_CLIENTS
from fetchbench.runner import Runner, build_plan
from fetchbench.strategies import STRATEGIES
from tests.strategies.params import LOCAL

ROUNDS = 2


@pytest.fixture(scope="module")
def refused_port():
    with faults.refused_port() as port:
        yield port


ALWAYS_AIOHTTP = ("asyncio", "process-asyncio")  # --client does not apply to them


def _applies(name: str, client: str) -> bool:
    """Only the combinations the CLI accepts (others are usage errors, not skips)."""
    if name in ALWAYS_AIOHTTP:
        return client == CLIENTS[0]
    return client not in GEVENT_CLIENTS or "gevent" in name


PAIRS = [
    pytest.param(param.values[0], client, marks=param.marks, id=f"{param.values[0]}-{client}")
    for param in LOCAL
    for client in CLIENTS
    if _applies(param.values[0], client)
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name,client", PAIRS)
def test_fault_matrix(server, sink, refused_port, name, client):
    if client in GEVENT_CLIENTS:
        pytest.importorskip(client)
    cases = fault_cases(server, refused_port)
    urls = [case.url for case in cases]
    plan = build_plan([STRATEGIES[name]], [4], [1], repeat=ROUNDS, url_count=len(urls))
    Runner(urls, faults.fault_options(client), sink).run(plan)
    assert len(sink.records) == len(urls) * ROUNDS
    assert Counter((r.round, r.index) for r in sink.records) == Counter(
        {(k, i): 1 for k in range(1, ROUNDS + 1) for i in range(len(urls))})
    for record in sink.records:
        case = cases[record.index]
        assert record.error == case.error, (case.name, record.message)
        if case.bytes is not None:
            assert record.bytes == case.bytes, case.name
    assert len(sink.runs) == ROUNDS and all(run.complete for run in sink.runs)
