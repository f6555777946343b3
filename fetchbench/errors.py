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


class UsageError(FetchbenchError):
    """A bad option or argument: one line for the user, exit status 2."""

    exit_status = EXIT_USAGE


class InputError(UsageError):
    """A bad input file; the message names the file (and line, where known)."""


class RegressionFound(FetchbenchError):
    """A comparison found a regression that counts: exit status 1."""

    exit_status = EXIT_REGRESSION
