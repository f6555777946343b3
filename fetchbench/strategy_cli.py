"""The command line of strategy choice: 'all'/'every', installed checks, --loop, --scheduler.

Kept apart from ``cli`` so that module only wires these in. Nothing heavy is
imported: whether aiohttp, uvloop or dask are installed is asked of the
import system (``find_spec``), never answered by importing them.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Sequence

from fetchbench.errors import UsageError

ASYNCIO_STRATEGIES = ("asyncio", "process-asyncio")
GROUPS = ("all", "every")


def add_strategy_arguments(group: argparse._ArgumentGroup) -> None:
    """--loop and --scheduler, in the "what to run" group."""
    from fetchbench.strategies import LOOPS

    group.add_argument("--loop", default=LOOPS[0], choices=LOOPS,
                       help="event loop of the asyncio strategies (default: asyncio)")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="dask scheduler for --strategy dask, e.g. tcp://10.0.0.5:8786 "
                            "(default: a LocalCluster here, one worker per CPU of the run)")


def expand(name: str) -> list[str]:
    """The strategies one name of --strategy stands for; UsageError if unusable here."""
    from fetchbench.strategies import ALL, EVERY, STRATEGIES

    if name == "all":
        return list(ALL)
    if name == "every":
        return list(EVERY)
    strategy = STRATEGIES[name]
    if not strategy.installed:
        missing = ", ".join(m for m in strategy.requires if importlib.util.find_spec(m) is None)
        raise UsageError(f"--strategy: '{name}' needs {missing}: "
                         f"pip install 'fetchbench[{strategy.extra}]'")
    return [name]


def strategy_options(ns: argparse.Namespace, args: Sequence[str],
                     strategies: Sequence[str]) -> dict:
    """RunOptions' loop and scheduler, checked against the strategies chosen."""
    from fetchbench.cli import reject_flags

    if not set(strategies) & set(ASYNCIO_STRATEGIES):
        reject_flags(args, ("--loop",), "to the asyncio and process-asyncio strategies")
    if ns.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise UsageError("--loop: uvloop is not installed: pip install 'fetchbench[async]'")
    if "dask" not in strategies:
        reject_flags(args, ("--scheduler",), "to --strategy dask")
    scheduler = ns.scheduler
    if scheduler is not None:
        scheduler = scheduler.strip()
        if not scheduler or any(c.isspace() for c in scheduler):
            raise UsageError(f"--scheduler: not an address: '{ns.scheduler}' "
                             "(e.g. tcp://10.0.0.5:8786)")
    return {"loop": ns.loop, "scheduler": scheduler}
