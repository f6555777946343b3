"""Strategy parameters for the parametrized tests: skipped, not dropped, when not installed."""

from __future__ import annotations

import pytest

from fetchbench.strategies import STRATEGIES


def strategy_params(*, cheap_only: bool = True) -> list:
    """Every registered strategy (cheap ones only by default), each skipped when the
    optional dependencies it needs are missing, so a missing extra shows as a skip."""
    return [
        pytest.param(name, marks=pytest.mark.skipif(
            not strategy.installed, reason=f"needs pip install 'fetchbench[{strategy.extra}]'"))
        for name, strategy in STRATEGIES.items()
        if strategy.cheap or not cheap_only
    ]


LOCAL = strategy_params()
"""Strategies that run on this machine alone and start fast: all but dask."""
