"""Progress on stderr: a tqdm bar per run on a terminal, a line per run otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from fetchbench.runner import PlannedRun, ProgressLike


class LineProgress:
    """One line per finished run, for logs and CI (stderr is not a terminal)."""

    def __init__(self, planned: PlannedRun, total: int) -> None:
        self.planned = planned
        self.total = total
        self.done = 0
        self.note = ""
        self.began = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n

    def set_postfix_str(self, s: str) -> None:
        self.note = s

    def close(self) -> None:
        seconds = time.monotonic() - self.began
        note = f" ({self.note})" if self.note else ""
        print(f"fetchbench: {self.planned.describe()}: {self.done}/{self.total} URLs "
              f"in {seconds:.1f} s{note}", file=sys.stderr, flush=True)


class NoProgress:
    """--quiet."""

    def update(self, n: int) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


def progress_factory(total: int, quiet: bool) -> Callable[[PlannedRun], ProgressLike]:
    """Choose how each run reports progress."""
    if quiet:
        return lambda planned: NoProgress()
    if sys.stderr.isatty():
        from tqdm import tqdm

        return lambda planned: tqdm(total=total, desc=planned.describe(), unit="req",
                                    file=sys.stderr, leave=True, dynamic_ncols=True)
    return lambda planned: LineProgress(planned, total)
