"""The exception family of fetchbench and the exit statuses it maps to.

    FetchbenchError
    ├── UsageError        bad option or input a user typed   → exit 2
    │   └── InputError    a bad file (URL list, results file) → exit 2
    └── RegressionFound   compare found a regression that counts → exit 1

Interruption (Ctrl-C) is not an exception of ours: the CLI maps
KeyboardInterrupt to exit 130 after saving what finished.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class FetchbenchError(Exception):
    """Base class of every error fetchbench raises on purpose."""

    exit_status = EXIT_USAGE


# characters that end a line for str.splitlines, and the other C0/C1 controls
_LINE_BREAKING = {code: f"\\x{code:02x}" for code in (*range(32), 127, *range(0x80, 0xa0))}
_LINE_BREAKING.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
                       0x2028: "\\u2028", 0x2029: "\\u2029"})


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters escaped (``\\n``,
    ``\\x1b``...), so a message quoting what a user typed stays one line."""
    return text.translate(_LINE_BREAKING)


class UsageError(FetchbenchError):
    """A bad option or argument: one line for the user, exit status 2.

    The message is made one line here, whatever user text it quotes.
    """

    exit_status = EXIT_USAGE

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(one_line(str(message)), *args)


class InputError(UsageError):
    """A bad input file; the message names the file (and line, where known)."""


class RegressionFound(FetchbenchError):
    """A comparison found a regression that counts: exit status 1."""

    exit_status = EXIT_REGRESSION
