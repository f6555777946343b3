"""Choosing strategies on the command line: all, every, missing extras, --loop, --scheduler."""

from __future__ import annotations

import dataclasses

import pytest

from fetchbench import strategies
from fetchbench.cli import parse_run_options, parse_strategies
from fetchbench.errors import UsageError
from fetchbench.strategies import ALL, CLASSIC, EVERY, STRATEGIES


def test_all_is_the_classic_five_then_the_cheap_installed_ones():
    assert parse_strategies("all")[:5] == CLASSIC
    assert parse_strategies("all") == ALL
    assert parse_strategies("every") == EVERY
    assert parse_strategies("thread,all,thread").count("thread") == 1


def test_a_strategy_whose_extra_is_missing_names_the_extra(monkeypatch):
    missing = dataclasses.replace(STRATEGIES["asyncio"], requires=("fetchbench_no_such_module",))
    monkeypatch.setitem(strategies.STRATEGIES, "asyncio", missing)
    with pytest.raises(UsageError, match=r"needs fetchbench_no_such_module.*fetchbench\[async\]"):
        parse_strategies("asyncio")


@pytest.mark.parametrize("args,fragment", [
    (["--strategy", "thread", "--loop", "uvloop"], "--loop: applies only"),
    (["--strategy", "thread", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler: applies"),
    (["--strategy", "dask", "--scheduler", " "], "--scheduler: not an address"),
    (["--strategy", "asyncio", "--loop", "trio"], "--loop"),
    (["--strategy", "asynco"], "did you mean 'asyncio'"),
    (["--strategy", "evry"], "did you mean 'every'"),
])
def test_strategy_options_are_checked(args, fragment):
    if "dask" in args and "dask" not in EVERY:
        pytest.skip("dask is not installed")
    with pytest.raises(UsageError, match=fragment):
        parse_run_options(args)


def test_loop_and_scheduler_reach_the_options():
    if not {"asyncio", "dask"} <= set(EVERY):
        pytest.skip("needs the async and dask extras")
    options = parse_run_options(["--strategy", "asyncio,dask", "--loop", "asyncio",
                                 "--scheduler", "tcp://10.0.0.5:8786"])
    assert (options.loop, options.scheduler) == ("asyncio", "tcp://10.0.0.5:8786")
    assert parse_run_options([]).scheduler is None
