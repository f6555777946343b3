"""The validated options of a benchmark run: a frozen object, no parsing here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a run is built: worker children need not
    from fetchbench.compare import CompareSettings


def _default_judge() -> CompareSettings:
    from fetchbench.compare import CompareSettings

    return CompareSettings()


# The built-in target mix of a run without URLS_FILE: the one place these are
# written (targets.embedded_mix and the CLI's defaults and help derive from them).
DEFAULT_COUNT = 200  # --urls
DEFAULT_DELAY: tuple[float, float] = (0.0, 0.1)  # --delay, seconds
DEFAULT_SIZE: tuple[int, int] = (1024, 256 * 1024)  # --size, bytes
DEFAULT_SEED = 20261127  # --seed

FORMATS = ("table", "markdown", "csv", "json")
# HTTP clients of --client; defined here (not in fetch.py) so the CLI need not import requests
CLIENTS: tuple[str, ...] = ("requests", "urllib3", "geventhttpclient")
GEVENT_CLIENTS: tuple[str, ...] = ("geventhttpclient",)  # only where gevent patched first


@dataclass(frozen=True)
class RunOptions:
    """Everything a run needs, checked by the CLI before anything is measured."""

    urls_file: str | None
    strategies: tuple[str, ...]
    workers: tuple[int, ...] | None  # None: each strategy's default
    cpus: tuple[int, ...]
    repeat: int = 1
    warmup: int = 0
    timeout: float = 10.0
    max_bytes: int = 100 * 1024 * 1024
    max_time: float | None = None
    keepalive: bool = True
    client: str = "requests"  # the HTTP client of every worker (CLIENTS)
    loop: str = "asyncio"  # event loop of the asyncio strategies: asyncio or uvloop
    scheduler: str | None = None  # dask scheduler address; None: a LocalCluster
    url_count: int = DEFAULT_COUNT
    delay: tuple[float, float] = DEFAULT_DELAY
    size: tuple[int, int] = DEFAULT_SIZE
    seed: int = DEFAULT_SEED
    output_format: str = "table"
    output_dir: str = "results"
    save: bool = True
    quiet: bool = False
    plot_dir: str | None = None  # --plot DIR: draw the plots after saving
    compare: str | None = None  # --compare BASE.json: judge this run against it
    compare_format: str = "table"  # table, markdown or json
    judge: CompareSettings = field(default_factory=_default_judge)
    exports: tuple[tuple[str, str], ...] = ()  # (kind, file) of each --export

    @property
    def embedded(self) -> bool:
        """True when fetchbench serves its own targets."""
        return self.urls_file is None

    def as_dict(self) -> dict:
        """A JSON-ready copy, as saved in the results file."""
        return asdict(self)
