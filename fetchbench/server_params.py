"""Query string → validated ``Plan`` for the embedded server (see ``fetchbench.server``).

Kept apart from the protocol code so the rules can be tested without a socket.
Parsing is cached per query string: a benchmark repeats a few URLs many times.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from urllib.parse import parse_qsl, unquote_plus

MAX_SECONDS = 60.0
MAX_BYTES = 1 << 30  # 1 GiB
MAX_REDIRECT = 1000
DEFAULT_BYTES = 1024
FAULTS = ("reset", "stall", "truncate", "drip")


class ParamError(ValueError):
    """A bad query parameter; the message is the 400 response's reason."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What one response should look like and how it should misbehave."""

    delay: float = 0.0
    nbytes: int = DEFAULT_BYTES
    status: int = 200
    reset: bool = False
    stall: float = 0.0
    truncate: int | None = None
    drip: float = 0.0
    redirect: int = 0
    chunked: bool = False
    close: bool = False

    @property
    def plain(self) -> bool:
        """True when the response can be written at once, without waiting or faults."""
        return not self.delay and not self.fault_count()

    def fault_count(self) -> int:
        """How many of the mutually exclusive faults are asked for."""
        return (
            int(self.reset)
            + int(self.stall > 0)
            + int(self.truncate is not None)
            + int(self.drip > 0)
        )


def _seconds(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= MAX_SECONDS:  # also rejects nan and inf
        raise ParamError(f"{name} must be a number of seconds from 0 to {MAX_SECONDS:g}")
    return value


def _integer(name: str, text: str, low: int, high: int) -> int:
    # Strict ASCII digits: int() would also take " 5", "+5", "1_0" and "٣".
    if text.isascii() and text.isdigit() and len(text) <= 12 and low <= int(text) <= high:
        return int(text)
    raise ParamError(f"{name} must be an integer from {low} to {high}")


def _flag(name: str, text: str) -> bool:
    if text in ("0", "1"):
        return text == "1"
    raise ParamError(f"{name} must be 0 or 1")


# parameter name → (Plan field, converter of the text value)
_PARAMS: dict[str, tuple[str, Callable[[str, str], object]]] = {
    "delay": ("delay", _seconds),
    "bytes": ("nbytes", lambda n, t: _integer(n, t, 0, MAX_BYTES)),
    "status": ("status", lambda n, t: _integer(n, t, 200, 599)),
    "reset": ("reset", _flag),
    "stall": ("stall", _seconds),
    "truncate": ("truncate", lambda n, t: _integer(n, t, 0, MAX_BYTES)),
    "drip": ("drip", _seconds),
    "redirect": ("redirect", lambda n, t: _integer(n, t, 0, MAX_REDIRECT)),
    "chunked": ("chunked", _flag),
    "close": ("close", _flag),
}


def _unquote(text: str) -> str:
    return unquote_plus(text) if ("%" in text or "+" in text) else text


def parse_plan(query: str) -> Plan:
    """Validate a query string into a Plan; raise ParamError with a short reason.

    Unknown names are ignored (cache busters); a repeated name's last value wins.
    Only ``&`` separates (not ``;``), empty parts are skipped, ``a`` is ``a=``, and
    ``+``/``%XX`` are decoded (a bad escape is kept as it is): ``parse_qsl``'s rules.
    """
    values: dict[str, object] = {}
    for name, text in parse_qsl(query, keep_blank_values=True):
        known = _PARAMS.get(name)
        if known is not None:
            field, convert = known
            values[field] = convert(name, text)
    plan = replace(Plan(), **values) if values else Plan()  # type: ignore[arg-type]
    if plan.truncate is not None and plan.truncate >= plan.nbytes:
        raise ParamError("truncate must be less than bytes")
    if plan.fault_count() > 1:
        raise ParamError("give at most one of " + ", ".join(FAULTS))
    return plan


@lru_cache(maxsize=4096)
def plan_for(query: str) -> Plan | str:
    """``parse_plan`` cached per query string: a Plan, or the reason for a 400."""
    try:
        return parse_plan(query)
    except ParamError as exc:
        return str(exc)


def redirect_location(path: str, query: str, hops_left: int) -> str:
    """The same path and query with ``redirect`` set to ``hops_left``."""
    parts = [
        f"redirect={hops_left}" if _unquote(part.partition("=")[0]) == "redirect" else part
        for part in query.split("&")
        if part
    ]
    return f"{path}?{'&'.join(parts)}"
