"""Assertions several test modules share."""

from __future__ import annotations


def assert_one_line_exit_2(status: int, err: str, *fragments: str) -> None:
    """A usage or input error: exit status 2 and exactly one stderr line holding ``fragments``."""
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0]
