"""The strategy registry: name → how to run it, importable without gevent.

Every strategy module exposes ``run(urls, workers, make_fetcher, emit)``:
it fetches each ``(index, url)`` once with fetchers made by
``make_fetcher()`` (one per worker) and passes each Record to ``emit``,
which is thread- and greenlet-safe. The worker fills in any index a
strategy failed to report, so a strategy bug can never drop a URL.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # importing fetch would import requests before gevent patches
    from fetchbench.fetch import Fetcher
    from fetchbench.record import Record

Emit = Callable[["Record"], None]
MakeFetcher = Callable[[], "Fetcher"]

DEFAULT_POOL_WORKERS = 20


class StrategyRun(Protocol):
    """The signature every strategy module's ``run`` has."""

    def __call__(
        self, urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit
    ) -> None: ...


@dataclass(frozen=True)
class Strategy:
    """One concurrency model and the facts the runner needs about it."""

    name: str
    module: str
    uses_gevent: bool  # monkey-patch first, in its own fresh interpreter
    pooled: bool  # takes --workers (serial and gevent-spawn do not)
    summary: str

    def default_workers(self, cpus: int, url_count: int) -> int:
        """Concurrency when --workers is not given (gevent-spawn: one per URL)."""
        if self.name == "gevent-spawn":
            return url_count
        if not self.pooled:
            return 1
        return cpus if self.name == "process" else DEFAULT_POOL_WORKERS

    def load(self) -> StrategyRun:
        """Import the strategy module (only ever inside its child)."""
        return importlib.import_module(self.module).run


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("serial", "fetchbench.strategies.serial", False, False,
                 "one loop, one connection"),
        Strategy("process", "fetchbench.strategies.process", False, True,
                 "multiprocessing workers; records come back over a Queue"),
        Strategy("thread", "fetchbench.strategies.thread", False, True,
                 "threading workers"),
        Strategy("gevent-spawn", "fetchbench.strategies.gevent_spawn", True, False,
                 "one greenlet per URL, unbounded"),
        Strategy("gevent-pool", "fetchbench.strategies.gevent_pool", True, True,
                 "gevent.pool.Pool(N): bounded greenlets"),
    )
}

ALL = tuple(STRATEGIES)
