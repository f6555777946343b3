"""Targets: the URL list a benchmark fetches, and the option values that shape it.

Two sources of targets:

- ``load_url_file`` reads a user's file, one URL per line, and validates the
  whole file up front so a typo on line 90,000 fails in a second, not halfway
  through a benchmark. Every URL it accepts is one ``requests`` can prepare.
- ``embedded_mix`` builds the default, reproducible list for the embedded
  server: a spread of delays and body sizes from a fixed seed.

The option parsers (``parse_size``, ``parse_duration``, ``parse_range``,
``parse_int_list``) turn what a user typed into values, or raise ``UsageError``
with one line naming the option.

Bad input is always a ``UsageError``/``InputError`` with a one-line message
(exit status 2); no other exception escapes for anything a user can type.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import os
import random
import re
import unicodedata
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar
from urllib.parse import unquote

from fetchbench.errors import InputError, UsageError
from fetchbench.options import DEFAULT_COUNT, DEFAULT_DELAY, DEFAULT_SEED, DEFAULT_SIZE

T = TypeVar("T")

# ---------------------------------------------------------------- URL files

_SHOWN_CHARS = 76  # longest repr of a bad line quoted in a message

# The common case, matched in one step: lower-case scheme, ASCII host name or
# IPv4 address, optional port 1-65535, then printable ASCII without spaces.
# Anything else (and anything long) takes the careful path, ``url_problem``.
_FAST_URL = re.compile(
    r"https?://"
    r"(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?"
    r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    r"(?:[/?#][!-~]*)?"
)
_FAST_MAX_LEN = 250  # below this no host can exceed 253 characters

_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_UNRESERVED = _HOST_CHARS | frozenset(".~")
_USERINFO_CHARS = _UNRESERVED | frozenset("!$&'()*+,;=:%")
_AUTHORITY_END = re.compile(r"[/?#]")


def load_url_file(path: str | os.PathLike[str]) -> list[str]:
    """Read and validate a URL file: one http(s) URL per line.

    Blank lines and ``#`` comments are skipped, whitespace around a line is
    stripped, CRLF and a UTF-8 BOM are tolerated, and a scheme written in
    capitals is lower-cased. The whole file is checked before returning; the
    first problem raises ``InputError`` as ``path:line: reason: 'text'``.
    """
    shown = _show_path(path)
    text, bad_utf8_line = _decode(_read_bytes(path, shown))
    urls = _parse_lines(text, shown)
    if bad_utf8_line is not None:
        raise InputError(f"{shown}:{bad_utf8_line}: not UTF-8 text")
    if not urls:
        raise InputError(f"{shown}: no URLs (the file is empty or has only comments)")
    return urls


def url_problem(url: str) -> str | None:
    """Why ``url`` (one stripped line) is not a usable http(s) URL, or None if it is.

    Accepts what ``requests`` can prepare and a server could answer: IPv6
    literals in brackets, IDN hosts (IDNA-encodable), ports 1-65535, queries
    and fragments. Rejects other schemes, missing hosts, bad ports, spaces and
    control characters.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return "not an http(s) URL"
    if not (url.isprintable() and " " not in url):
        return _character_problem(url)
    end = _AUTHORITY_END.search(rest)
    authority = rest[: end.start()] if end else rest
    userinfo, at, hostport = authority.rpartition("@")
    if at and not _userinfo_ok(userinfo):
        return "bad user:password part (use only ASCII letters, digits and %-escapes)"
    if not hostport:
        return "not an http(s) URL (no host)"
    if hostport.startswith("["):
        return _ipv6_hostport_problem(hostport)
    if hostport.count(":") > 1:
        return "IPv6 address must be in brackets, as in http://[::1]:8080/"
    host, colon, port = hostport.partition(":")
    if colon and (problem := _port_problem(port)):
        return problem
    if not host:
        return "not an http(s) URL (no host)"
    return _host_problem(host)


def _read_bytes(path: str | os.PathLike[str], shown: str) -> bytes:
    """The file's bytes, or InputError with one line saying why not."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{shown}: is a directory, not a file of URLs") from None
    except PermissionError:
        raise InputError(f"{shown}: cannot read: permission denied") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        reason = getattr(e, "strerror", None) or str(e)
        raise InputError(f"{shown}: cannot read: {reason}") from None


def _decode(data: bytes) -> tuple[str, int | None]:
    """Decode UTF-8 (minus a BOM); on a bad byte, the text before its line and its line number.

    Returning the good prefix lets a bad URL above the bad byte be reported
    first, so the reported problem is always the first one in the file.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        lineno = data.count(b"\n", 0, line_start) + 1
        return data[:line_start].decode("utf-8"), lineno


def _parse_lines(text: str, shown: str) -> list[str]:
    """The URLs in ``text``; InputError on the first bad line."""
    urls: list[str] = []
    append = urls.append
    fast = _FAST_URL.fullmatch
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        if len(line) < _FAST_MAX_LEN and fast(line):
            append(line)
            continue
        problem = url_problem(line)
        if problem:
            raise InputError(f"{shown}:{lineno}: {problem}: {_show_line(line)}")
        append(_lower_scheme(line))
    return urls


def _lower_scheme(url: str) -> str:
    """``url`` with its scheme lower-cased (``HTTP://x`` -> ``http://x``)."""
    if url.startswith(("http://", "https://")):
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme.lower()}://{rest}"


def _show_path(path: str | os.PathLike[str]) -> str:
    """The path as the user gave it, or its repr if printing it could break the line."""
    text = os.fspath(path)
    return text if text.isprintable() else repr(text)


def _show_line(line: str) -> str:
    """repr of a line, cut to about 80 characters with an ellipsis and its length."""
    shown = repr(line)
    if len(shown) <= _SHOWN_CHARS + 4:
        return shown
    keep = _SHOWN_CHARS
    while len(repr(line[:keep])) > _SHOWN_CHARS:
        keep -= 1
    return f"{line[:keep]!r}... ({len(line)} characters)"


def _character_problem(url: str) -> str:
    """Name the first space, control or invisible character in ``url``."""
    for ch in url:
        if ch.isspace():
            return "contains whitespace (write a space as %20)"
        if ch == "\x00":
            return "contains a NUL character"
        if not ch.isprintable():
            kind = "control" if unicodedata.category(ch) == "Cc" else "non-printable"
            return f"contains a {kind} character (U+{ord(ch):04X})"
    return "contains an unexpected character"  # pragma: no cover - callers checked


def _userinfo_ok(userinfo: str) -> bool:
    """True if ``user:password`` is plain and decodes to Latin-1 (what Basic auth sends)."""
    if not set(userinfo) <= _USERINFO_CHARS:
        return False
    try:
        unquote(userinfo).encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _port_problem(port: str) -> str | None:
    """Why ``port`` (the text after ``host:``) is unusable; empty means the default."""
    if not port:
        return None
    if not (port.isascii() and port.isdigit()):
        return "invalid port"
    digits = port.lstrip("0")
    if len(digits) > 5 or not 1 <= int(digits or "0") <= 65535:
        return "port out of range"
    return None


@functools.lru_cache(maxsize=4096)
def _ipv6_hostport_problem(hostport: str) -> str | None:
    """Check ``[v6addr]`` or ``[v6addr]:port`` (cached: hosts repeat)."""
    close = hostport.find("]")
    after = hostport[close + 1 :] if close > 0 else ""
    if close < 0 or (after and not after.startswith(":")):
        return "invalid IPv6 literal"
    address = hostport[1:close]
    if "%" in address:
        return "IPv6 zone IDs (%25...) are not supported"
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return "invalid IPv6 literal"
    return _port_problem(after[1:]) if after else None


@functools.lru_cache(maxsize=4096)
def _host_problem(host: str) -> str | None:
    """Check a host name or IPv4 address the way urllib3 and DNS will see it (cached: hosts repeat)."""
    labels = host.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()  # a trailing dot: fully qualified
    length = len(labels) - 1
    for label in labels:
        if not label:
            return "empty label in host name"
        if label.isascii():
            if not set(label) <= _HOST_CHARS:
                bad = next(ch for ch in label if ch not in _HOST_CHARS)
                return f"invalid character {bad!r} in host name"
            encoded_len = len(label)
        else:
            encoded = _idna_label(label)
            if encoded is None:
                return "host name cannot be IDNA-encoded"
            encoded_len = len(encoded)
        if encoded_len > 63:
            return "host name label longer than 63 characters"
        length += encoded_len
    if length > 253:
        return "host name longer than 253 characters"
    return None


def _idna_label(label: str) -> bytes | None:
    """Encode one non-ASCII label as urllib3 does (IDNA 2008, STD3), or None if it can't."""
    import idna  # installed with requests; only needed for IDN hosts

    try:
        return idna.encode(label.lower(), strict=True, std3_rules=True)
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


# ------------------------------------------------------ embedded target mix


def embedded_mix(
    base_url: str,
    count: int = DEFAULT_COUNT,
    delay: tuple[float, float] = DEFAULT_DELAY,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
) -> list[str]:
    """The default targets for the embedded server, the same for the same arguments.

    URL ``i`` is ``{base_url}/item/{i}?delay=D&bytes=N``: D seconds, uniform in
    ``delay`` and rounded to the millisecond; N bytes, log-uniform in ``size``
    (so small and large bodies are both well represented).
    """
    _check_mix_args(count, delay, size)
    rng = random.Random(seed)
    base = base_url.rstrip("/")
    urls = []
    for i in range(count):
        seconds = round(rng.uniform(*delay), 3)
        nbytes = _log_uniform_int(rng, *size)
        urls.append(f"{base}/item/{i}?delay={seconds:.3f}&bytes={nbytes}")
    return urls


def _check_mix_args(count: int, delay: tuple[float, float], size: tuple[int, int]) -> None:
    """UsageError for a mix that cannot be built."""
    if count < 1:
        raise UsageError(f"target count must be at least 1, got {count}")
    if not (0 <= delay[0] <= delay[1] and math.isfinite(delay[1])):
        raise UsageError(f"delay range must be 0 <= low <= high, got {delay[0]}..{delay[1]}")
    if not 0 <= size[0] <= size[1]:
        raise UsageError(f"size range must be 0 <= low <= high, got {size[0]}..{size[1]}")


def _log_uniform_int(rng: random.Random, lo: int, hi: int) -> int:
    """An integer log-uniform in [lo, hi] (a low end of 0 is treated as 1, then clamped)."""
    if lo == hi:
        return lo
    value = math.exp(rng.uniform(math.log(max(lo, 1)), math.log(hi)))
    return min(max(round(value), lo), hi)


# ------------------------------------------------------------ option values

_NUMBER = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_AMOUNT_RE = re.compile(_NUMBER + r"\s*([a-z]*)", re.IGNORECASE | re.ASCII)
_INT_ITEM_RE = re.compile(r"([0-9]+)(?:\.\.([0-9]+)(?:[xX*]([0-9]+))?)?", re.ASCII)

# Like dd: a bare K/M/G is binary (1k = 1024), KB/MB/GB decimal, KiB/MiB/GiB binary.
_SIZE_UNITS: dict[str, int] = {"": 1, "b": 1}
for _power, _prefix in enumerate("kmgt", start=1):
    _SIZE_UNITS[_prefix] = 1024**_power
    _SIZE_UNITS[_prefix + "ib"] = 1024**_power
    _SIZE_UNITS[_prefix + "b"] = 1000**_power

_DURATION_UNITS: dict[str, Decimal] = {
    "": Decimal(1),
    "s": Decimal(1),
    "ms": Decimal("0.001"),
    "us": Decimal("0.000001"),
    "m": Decimal(60),
    "min": Decimal(60),
    "h": Decimal(3600),
}
_MAX_SIZE = 2**63 - 1
_MAX_LIST = 10_000


def parse_size(text: str, option: str = "--size") -> int:
    """A byte count: ``1024``, ``64k``/``64KiB`` (x1024), ``1MB`` (x10^6), ``1.5k``.

    Case-insensitive; a fraction of a byte is rounded. Raises UsageError.
    """
    number, unit = _number_and_unit(text, option, "size")
    multiplier = _SIZE_UNITS.get(unit.lower())
    if multiplier is None:
        raise UsageError(f"{option}: cannot parse {text!r} as a size")
    value = int((number * multiplier).to_integral_value(ROUND_HALF_UP))
    if value > _MAX_SIZE:
        raise UsageError(f"{option}: {text!r} is too large")
    return value


def parse_duration(text: str, option: str) -> float:
    """Seconds: ``0.1``, ``100ms``, ``2s``, ``1m``, ``1h``. Raises UsageError."""
    number, unit = _number_and_unit(text, option, "duration")
    multiplier = _DURATION_UNITS.get(unit.lower())
    if multiplier is None:
        raise UsageError(f"{option}: cannot parse {text!r} as a duration")
    seconds = float(number * multiplier)
    if not math.isfinite(seconds):
        raise UsageError(f"{option}: {text!r} is too large")
    return seconds


def _number_and_unit(text: str, option: str, what: str) -> tuple[Decimal, str]:
    """Split ``'1.5 k'`` into ``(Decimal('1.5'), 'k')``; UsageError if it isn't that shape."""
    stripped = text.strip()
    if stripped.startswith("-"):
        raise UsageError(f"{option}: {what} must not be negative, got {text!r}")
    match = _AMOUNT_RE.fullmatch(stripped)
    if not match:
        raise UsageError(f"{option}: cannot parse {text!r} as a {what}")
    return Decimal(match.group(1)), match.group(2)


def parse_range(text: str, parse: Callable[[str], T], option: str | None = None) -> tuple[T, T]:
    """``A`` -> ``(A, A)``, ``A..B`` -> ``(A, B)``, each side read by ``parse``; needs A <= B.

    A bare number on the low side takes the high side's unit (``20..60ms``).

    ``option`` names the option in the message when A > B (``parse`` names it
    for a side it cannot read).
    """
    low_text, dots, high_text = text.partition("..")
    low_text = _with_unit_of(low_text, high_text) if dots else low_text
    low = parse(low_text)
    high = parse(high_text) if dots else low
    if high < low:  # type: ignore[operator]
        prefix = f"{option}: " if option else ""
        raise UsageError(f"{prefix}range {text!r} goes down (the low end must come first)")
    return low, high


_BARE_NUMBER_RE = re.compile(r"\s*[0-9]*\.?[0-9]+\s*")
_NUMBER_UNIT_RE = re.compile(r"\s*[0-9]*\.?[0-9]+\s*([A-Za-z]+)\s*")


def _with_unit_of(low_text: str, high_text: str) -> str:
    """``20..60ms`` means 20 ms to 60 ms: a bare low end takes the high end's unit."""
    unit = _NUMBER_UNIT_RE.fullmatch(high_text)
    if unit and _BARE_NUMBER_RE.fullmatch(low_text):
        return low_text.strip() + unit.group(1)
    return low_text


def parse_int_list(text: str, option: str) -> list[int]:
    """Positive integers: ``1,2,4``, ``1..4`` (step 1), ``1..64x2`` (times 2); sorted, unique."""
    values: set[int] = set()
    for item in text.split(","):
        values.update(_int_item(item.strip(), text, option))
        if len(values) > _MAX_LIST:
            raise UsageError(f"{option}: {text!r} gives more than {_MAX_LIST} values")
    return sorted(values)


def _int_item(item: str, text: str, option: str) -> range | list[int]:
    """The values of one comma-separated item of an integer list."""
    match = _INT_ITEM_RE.fullmatch(item)
    if not match or any(len(g or "") > 18 for g in match.groups()):
        raise UsageError(
            f"{option}: cannot parse {text!r} as a list of positive integers (e.g. 1,2,4 or 1..64x2)"
        )
    start_text, stop_text, factor_text = match.groups()
    start, stop = int(start_text), int(stop_text or start_text)
    if start == 0 or stop == 0:
        raise UsageError(f"{option}: values must be positive integers, got {text!r}")
    if stop < start:
        raise UsageError(f"{option}: range {item!r} goes down (the low end must come first)")
    if factor_text is not None:
        return _geometric(start, stop, int(factor_text), item, option)
    if stop - start >= _MAX_LIST:
        raise UsageError(f"{option}: {text!r} gives more than {_MAX_LIST} values")
    return range(start, stop + 1)


def _geometric(start: int, stop: int, factor: int, item: str, option: str) -> list[int]:
    """start, start*factor, ... while <= stop (``1..64x2``)."""
    if factor < 2:
        raise UsageError(f"{option}: the multiplier in {item!r} must be at least 2")
    values = []
    value = start
    while value <= stop:
        values.append(value)
        value *= factor
    return values
