"""Process limits that the server and the worker children both lift."""

from __future__ import annotations


def raise_open_files_limit() -> None:
    """Lift the soft open-files limit to the hard one: many connections, many sockets.

    Best effort: where it cannot be raised, the strategy meets EMFILE as records.
    """
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
