"""``EmbeddedServer``: the embedded HTTP test server in a child process, as a context manager.

A separate interpreter so the server never shares the benchmark's GIL; the
child also stops when its stdin closes, so it cannot outlive its parent.
Re-exported by ``fetchbench.server``, which documents the query parameters.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode

START_TIMEOUT = 10.0


def _read_line(stream: object, timeout: float) -> str | None:
    """The first line from a pipe within ``timeout`` seconds; None on EOF or timeout."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace").strip()


class EmbeddedServer:
    """The embedded server in its own process for the length of a ``with`` block.

    >>> with EmbeddedServer() as server:          # doctest: +SKIP
    ...     requests.get(server.url("/x", delay=0.1, bytes=4096))
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, start_timeout: float = START_TIMEOUT
    ) -> None:
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._base_url: str | None = None
        self._stderr_file: BinaryIO | None = None
        self._stderr_text = ""

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        if self._base_url is None:
            raise RuntimeError("the embedded server is not running")
        return self._base_url

    @property
    def pid(self) -> int:
        """The server process's id."""
        if self._proc is None:
            raise RuntimeError("the embedded server is not running")
        return self._proc.pid

    def start(self) -> None:
        """Start the server process and wait for its base URL (RuntimeError if it fails)."""
        if self._proc is not None:
            raise RuntimeError("the embedded server is already running")
        fd, path = tempfile.mkstemp(prefix="fetchbench-server-", suffix=".stderr")
        os.close(fd)
        child_err = open(path, "ab")  # noqa: SIM115  (the child's copy; closed below)
        self._stderr_file = open(path, "rb")  # noqa: SIM115  (read by stderr_text)
        os.unlink(path)
        cmd = [
            sys.executable,
            "-m",
            "fetchbench.server",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        try:
            self._proc = subprocess.Popen(
                [*cmd, "--exit-on-stdin-eof"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=child_err,
                env=_child_env(),
                # its own session: a terminal's Ctrl-C must not cut the requests
                # still in flight; it exits when we stop it or our stdin closes
                start_new_session=True,
            )
        except BaseException:
            self._stderr_file.close()
            self._stderr_file = None
            raise
        finally:
            child_err.close()
        line = _read_line(self._proc.stdout, self.start_timeout)
        if line is None or not line.startswith("http"):
            self._fail_start(line)
        self._base_url = line
        said = self.stderr_text().strip()  # e.g. the non-loopback warning: pass it on
        if said:
            print(said, file=sys.stderr)

    def _fail_start(self, line: str | None) -> None:
        exited = self._proc.poll() if self._proc else None
        self.stop()
        why = (
            f"exited with status {exited}"
            if exited is not None
            else f"did not start within {self.start_timeout:g} s"
        )
        if line:
            why += f" (first line: {line!r})"
        raise RuntimeError(
            f"embedded server {why}; its stderr:\n{self._stderr_text.strip() or '(empty)'}"
        )

    def stop(self) -> None:
        """Stop the server process (SIGTERM, then SIGKILL) and reap it. Idempotent."""
        proc, self._proc, self._base_url = self._proc, None, None
        if proc is None:
            return
        if proc.stdin is not None:  # EOF first: the server's own way out
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self._stderr_text = self.stderr_text()
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None

    def stderr_text(self) -> str:
        """What the server wrote on stderr so far (kept after ``stop``)."""
        if self._stderr_file is None:
            return self._stderr_text
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode(errors="replace")

    def url(self, path: str = "/", **params: object) -> str:
        """An absolute URL on this server, e.g. ``url("/item/1", delay=0.05, bytes=1024)``."""
        if not path.startswith("/"):
            path = "/" + path
        query = urlencode({k: int(v) if isinstance(v, bool) else v for k, v in params.items()})
        if not query:
            return self.base_url + path
        return f"{self.base_url}{path}{'&' if '?' in path else '?'}{query}"

    def stats(self) -> dict[str, int]:
        """``GET /__stats``: ``{"connections": C, "requests": R}``."""
        with urllib.request.urlopen(self.url("/__stats"), timeout=5) as response:
            return json.loads(response.read())


def _child_env() -> dict[str, str]:
    """The environment for the server process: this fetchbench first on the path."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env
