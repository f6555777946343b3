"""The strategy registry: name → how to run it, importable without gevent.

Every strategy module exposes ``run(urls, workers, make_fetcher, emit)``:
it fetches each ``(index, url)`` once with fetchers made by
``make_fetcher(prepare=True)`` (one per worker; see ``MakeFetcher``) and
passes each Record to ``emit``,
which is thread- and greenlet-safe. The worker fills in any index a
strategy failed to report, so a strategy bug can never drop a URL. ``run``
may return a dict of facts for the run's probe (e.g. the event loop used).

Strategy options that only some strategies read (``--loop``, ``--scheduler``)
reach the child as environment variables (``LOOP_ENV``, ``SCHEDULER_ENV``),
set by the runner on the child it starts and so inherited by its own children.

``--strategy all`` is ``ALL``: the classic five plus every other strategy that
is installed and cheap to start (asyncio and process-asyncio when aiohttp is
importable, process-gevent always); ``every`` is ``EVERY``: all the installed
ones, dask included (a cluster takes seconds to start, so not in ``all``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # importing fetch would import requests before gevent patches
    from fetchbench.fetch import Fetcher
    from fetchbench.record import Record

Emit = Callable[["Record"], None]


class MakeFetcher(Protocol):
    """Builds one worker's Fetcher. ``prepare=True`` for a fetcher that will
    fetch the list: its client is then set up for the list's first origin
    before it returns (``Fetcher.prepare``: start-up, not the first request).
    Left False for a fetcher used only for its config and label, which must
    stay cheap and cannot hang on the client (e.g. to write lost URLs)."""

    def __call__(self, *, prepare: bool = False) -> Fetcher: ...

DEFAULT_POOL_WORKERS = 20
LOOP_ENV = "FETCHBENCH_LOOP"  # asyncio strategies: "asyncio" (default) or "uvloop"
SCHEDULER_ENV = "FETCHBENCH_SCHEDULER"  # dask: scheduler address; unset or "": a LocalCluster
LOOPS = ("asyncio", "uvloop")


class StrategyRun(Protocol):
    """The signature every strategy module's ``run`` has."""

    def __call__(
        self, urls: Sequence[str], workers: int, make_fetcher: MakeFetcher, emit: Emit
    ) -> dict | None: ...


@dataclass(frozen=True)
class Strategy:
    """One concurrency model and the facts the runner needs about it."""

    name: str
    module: str
    uses_gevent: bool  # monkey-patch first, in its own fresh interpreter
    pooled: bool  # takes --workers (serial and gevent-spawn do not)
    summary: str
    requires: tuple[str, ...] = ()  # modules it imports beyond the core dependencies
    extra: str = ""  # the pip extra that installs them: pip install 'fetchbench[EXTRA]'
    cheap: bool = True  # starts in well under a second: part of --strategy all

    @property
    def installed(self) -> bool:
        """True when every module it requires can be imported (nothing is imported)."""
        return all(importlib.util.find_spec(name) is not None for name in self.requires)

    def default_workers(self, cpus: int, url_count: int) -> int:
        """Concurrency when --workers is not given (gevent-spawn: one per URL)."""
        if self.name == "gevent-spawn":
            return url_count
        if not self.pooled:
            return 1
        return cpus if self.name == "process" else DEFAULT_POOL_WORKERS


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
        Strategy("asyncio", "fetchbench.strategies.asyncio_aiohttp", False, True,
                 "N asyncio tasks, one aiohttp session (--loop asyncio|uvloop)",
                 requires=("aiohttp",), extra="async"),
        Strategy("process-gevent", "fetchbench.strategies.process_gevent", False, True,
                 "one gevent-patched process per CPU, each a gevent pool of N/k"),
        Strategy("process-asyncio", "fetchbench.strategies.process_asyncio", False, True,
                 "one asyncio process per CPU, each N/k tasks",
                 requires=("aiohttp",), extra="async"),
        Strategy("dask", "fetchbench.strategies.dask_distributed", False, True,
                 "chunks on a dask.distributed cluster (--scheduler), threads per chunk",
                 requires=("distributed",), extra="dask", cheap=False),
    )
}

CLASSIC = ("serial", "process", "thread", "gevent-spawn", "gevent-pool")
"""The five strategies every installation has, and the comparison's baseline."""

EVERY = tuple(name for name, s in STRATEGIES.items() if s.installed)
"""``--strategy every``: every strategy whose dependencies are installed."""

ALL = tuple(name for name in EVERY if STRATEGIES[name].cheap)
"""``--strategy all``: the installed strategies that are cheap to start."""
