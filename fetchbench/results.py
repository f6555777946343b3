"""Saving and loading result files: atomic, streamed, nothing lost.

A result set is two files with one stem, side by side:

- ``<stem>.json``: schema, machine, options, targets, and per run its
  ``RunMeta`` fields plus its summary row (enough for ``show``/``compare``);
- ``<stem>.csv``: every record, header ``RECORD_FIELDS``. While a benchmark
  runs it is ``<stem>.csv.partial``; ``close()`` renames it.

``ResultsWriter.save()`` runs after each strategy run and rewrites the JSON
atomically (temp file in the same directory, fsync, ``os.replace``), so a
later failure or Ctrl-C loses nothing that finished. Its summary reads only
the records written since the previous one (each record is read once in a
whole benchmark), and keeps their per-run aggregates.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import socket
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from fetchbench.errors import InputError, UsageError
from fetchbench.record import RECORD_FIELDS, Record, RunMeta
from fetchbench.stats import (
    RECORD_DTYPES,
    RUN_KEYS,
    STATS_COLUMNS,
    records_frame,
    run_aggregates,
    summarize,
    summary_from_aggregates,
    summary_from_rows,
    summary_rows,
)

SCHEMA = "fetchbench-results"
SCHEMA_VERSION = 1
PARTIAL_SUFFIX = ".partial"
VERSIONED_PACKAGES: tuple[str, ...] = (
    "fetchbench",
    "gevent",
    "requests",
    "urllib3",
    "pandas",
    "tabulate",
)
_RUNMETA_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunMeta))


def ensure_directory(path: str | os.PathLike[str], what: str) -> Path:
    """Create directory ``path`` if needed; a one-line UsageError naming ``what`` if impossible."""
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{what} {directory} is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {what} {directory}: {exc.strerror or exc}") from None
    return directory


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) so readers see the old or new file, never half."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old or new file, never half.

    Writes a temp file in the same directory, fsyncs it, ``os.replace``s it
    over ``path`` and fsyncs the directory; on any failure the temp file is
    removed and ``path`` is untouched.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort; not every OS allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _version(package: str) -> str | None:
    """The installed version of ``package``, or None."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        if package == "fetchbench":
            from fetchbench import __version__

            return __version__
        return None


def _git_commit() -> str | None:
    """The commit checked out in the current directory, or None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def machine_info() -> dict[str, Any]:
    """What a result depends on besides the code: host, CPUs, Python, versions, commit."""
    available: int | None
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count()
    return {
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "cpus_available": available,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "versions": {name: _version(name) for name in VERSIONED_PACKAGES},
        "git_commit": _git_commit(),
    }


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def read_records(
    path: str | os.PathLike[str], columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """A records CSV as a DataFrame (``RECORD_DTYPES``; "" stays "", never NaN).

    A missing, unreadable or malformed file is a one-line ``InputError`` naming it.
    """
    return _parse_records(path, path, columns, header=True)


def read_record_bytes(
    path: str | os.PathLike[str], start: int, end: int, columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """The records in bytes ``[start, end)`` of a records CSV (whole rows, no header).

    As ``read_records`` otherwise; only that byte range is read.
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after pandas has read it
    except FileNotFoundError:
        raise InputError(f"{path}: no such records file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read records file ({exc.strerror or exc})") from None
    with fh, io.BufferedReader(_ByteRange(fh, start, end)) as source:
        return _parse_records(path, source, columns, header=False)


class _ByteRange(io.RawIOBase):
    """Bytes ``[start, end)`` of an open binary file as a raw stream."""

    def __init__(self, fh: io.BufferedReader, start: int, end: int) -> None:
        super().__init__()
        fh.seek(start)
        self._fh = fh
        self._left = max(0, end - start)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with memoryview(buffer) as view:
            got = self._fh.readinto(view[: self._left]) if self._left else 0
        self._left -= got or 0
        return got or 0


def _parse_records(
    path: str | os.PathLike[str], source: Any, columns: Iterable[str] | None, *, header: bool
) -> pd.DataFrame:
    """``source`` (a path or binary stream of records CSV text) as a records DataFrame."""
    usecols = list(columns) if columns is not None else list(RECORD_FIELDS)
    try:
        return pd.read_csv(
            source,
            header=0 if header else None,
            names=None if header else list(RECORD_FIELDS),
            usecols=usecols,
            dtype={c: RECORD_DTYPES[c] for c in usecols},
            keep_default_na=False,
            na_filter=False,
        )[usecols]
    except FileNotFoundError:
        raise InputError(f"{path}: no such records file") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty records file") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a valid records CSV ({reason})") from None


class ResultsWriter:
    """Streams records to ``<stem>.csv.partial`` and rewrites ``<stem>.json`` on each save.

    Construction creates the directory and the partial CSV, so an unusable
    results directory fails (``UsageError``) before anything is measured. An
    explicit ``stem`` that is already taken is a ``UsageError`` (results are
    never overwritten); the default stem gets a "-2", "-3"… suffix instead.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        stem: str | None = None,
        *,
        options: dict[str, Any] | None = None,
        targets: dict[str, Any] | None = None,
        machine: dict[str, Any] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.options = dict(options or {})
        self.targets = dict(targets or {})
        created = _utc_now()
        self.created = _iso(created)
        self._runs: list[RunMeta] = []
        self._closed = False
        self._summary: pd.DataFrame | None = None  # cached until the next add_*
        # The records read so far, as chunks: (first byte, run_aggregates of the
        # chunk's records); a chunk ends where the next begins, the last at _read_to.
        self._chunks: list[tuple[int, pd.DataFrame]] = []
        ensure_directory(self.directory, "results directory")
        self.stem, self._file = self._reserve(stem, created)
        self._csv = csv.writer(self._file, lineterminator="\n")
        self._csv.writerow(RECORD_FIELDS)
        self._file.flush()
        self._read_to = self._records_end()  # just past the header
        self.machine = machine if machine is not None else machine_info()

    def _reserve(self, stem: str | None, created: datetime) -> tuple[str, TextIO]:
        """Pick a free stem and create its partial CSV exclusively."""
        if stem is not None and (not stem or Path(stem).name != stem or stem in (".", "..")):
            raise UsageError(f"bad results name {stem!r}: give a file name stem, not a path")
        base = stem or f"fetchbench-{created:%Y%m%d-%H%M%S}"
        for n in range(1, 1000):
            candidate = base if n == 1 else f"{base}-{n}"
            taken = [
                p
                for p in (
                    f"{candidate}.json",
                    f"{candidate}.csv",
                    f"{candidate}.csv{PARTIAL_SUFFIX}",
                )
                if (self.directory / p).exists()
            ]
            if taken and stem is not None:
                raise UsageError(
                    f"results file {self.directory / taken[0]} already exists; "
                    "choose another name or remove it"
                )
            if taken:
                continue
            path = self.directory / f"{candidate}.csv{PARTIAL_SUFFIX}"
            try:
                return candidate, open(path, "x", encoding="utf-8", newline="")  # noqa: SIM115
            except FileExistsError:
                continue
            except OSError as exc:
                raise UsageError(
                    f"cannot write to results directory {self.directory}: {exc.strerror or exc}"
                ) from None
        raise UsageError(f"no free results name for {base!r} in {self.directory}")

    @property
    def json_path(self) -> Path:
        """Where the JSON results file is (rewritten by every save)."""
        return self.directory / f"{self.stem}.json"

    @property
    def csv_path(self) -> Path:
        """The final records CSV (exists once ``close()`` has run)."""
        return self.directory / f"{self.stem}.csv"

    @property
    def partial_path(self) -> Path:
        """The records CSV while the benchmark runs."""
        return self.directory / f"{self.stem}.csv{PARTIAL_SUFFIX}"

    @property
    def records_path(self) -> Path:
        """The records CSV as it is now: partial until closed."""
        return self.csv_path if self._closed else self.partial_path

    @property
    def runs(self) -> list[RunMeta]:
        """The runs added so far, in order."""
        return list(self._runs)

    def add_records(self, records: Iterable[Record]) -> None:
        """Append records to the CSV as they come (never held in memory)."""
        if self._closed:
            raise RuntimeError("ResultsWriter is closed")
        self._summary = None
        writerow = self._csv.writerow
        for record in records:
            writerow(record.as_row())
        self._file.flush()

    def add_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Append rows already in ``RECORD_FIELDS`` order (the runner's fast path)."""
        if self._closed:
            raise RuntimeError("ResultsWriter is closed")
        self._summary = None
        self._csv.writerows(rows)
        self._file.flush()

    def add_run(self, meta: RunMeta) -> None:
        """Note a finished (or cut-short) strategy run; its records come via add_records."""
        if self._closed:
            raise RuntimeError("ResultsWriter is closed")
        self._summary = None
        self._runs.append(meta)

    def _sync(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())

    def _records_end(self) -> int:
        """The size of the records CSV (everything added so far is in it)."""
        if self._file.closed:
            return self.records_path.stat().st_size
        self._file.flush()
        return os.fstat(self._file.fileno()).st_size

    def summary(self) -> pd.DataFrame:
        """The summary of every run added so far: ``summarize`` of the whole records CSV.

        Only the records written since the last call are read; their per-run
        aggregates are kept, and the summary is made from those small tables.
        The runner adds each run's records before its ``add_run``, so a chunk
        is one run. If a run's records span chunks (a summary asked for mid-run,
        a run key used twice), those chunks are read again as one, so the result
        is always the one of all the records together.
        """
        if self._summary is None:
            self._sync()
            self._read_new_records()
            aggs = [agg for _, agg in self._chunks]
            agg = pd.concat(aggs, ignore_index=True) if aggs else run_aggregates(records_frame([]))
            self._summary = summary_from_aggregates(agg, self._runs)
        return self._summary.copy()

    def _read_new_records(self) -> None:
        """Aggregate the records written since the last read into a new chunk."""
        end = self._records_end()
        if end > self._read_to:
            self._chunks.append((self._read_to, self._aggregate(self._read_to, end)))
            self._read_to = end
        if len(self._chunks) < 2:
            return
        keys = pd.concat([agg[list(RUN_KEYS)] for _, agg in self._chunks], ignore_index=True)
        shared = keys.duplicated(keep=False).to_numpy()
        if shared.any():  # a run's records span chunks: read them again, from there on, as one
            chunk_of_row = [i for i, (_, agg) in enumerate(self._chunks) for _ in range(len(agg))]
            at = chunk_of_row[int(shared.argmax())]
            start = self._chunks[at][0]
            self._chunks[at:] = [(start, self._aggregate(start, end))]

    def _aggregate(self, start: int, end: int) -> pd.DataFrame:
        """``run_aggregates`` of the records in bytes ``[start, end)`` of the CSV."""
        return run_aggregates(read_record_bytes(self.records_path, start, end, STATS_COLUMNS))

    def document(self, summary: pd.DataFrame, complete: bool, interrupted_at: str | None) -> dict:
        """The JSON document for the current state (see the module docstring)."""
        rows = summary_rows(summary)
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "created": self.created,
            "complete": bool(complete),
            "interrupted_at": interrupted_at,
            "machine": self.machine,
            "options": self.options,
            "targets": self.targets,
            "records_file": self.csv_path.name,
            "runs": [
                {**asdict(m), "summary": row} for m, row in zip(self._runs, rows, strict=True)
            ],
        }

    def save(self, complete: bool, interrupted_at: str | None = None) -> Path:
        """Fsync the records and atomically rewrite the JSON; returns its path."""
        doc = self.document(self.summary(), complete, interrupted_at)
        text = json.dumps(doc, indent=2, allow_nan=False, default=str)
        atomic_write_text(self.json_path, text + "\n")
        return self.json_path

    def close(self, complete: bool, interrupted_at: str | None = None) -> Path:
        """Final save, then rename ``<stem>.csv.partial`` to ``<stem>.csv``; returns the JSON path."""
        path = self.save(complete, interrupted_at)
        if not self._closed:
            self._file.close()
            os.replace(self.partial_path, self.csv_path)
            _fsync_dir(self.directory)
            self._closed = True
        return path


class NullWriter:
    """The ``--no-save`` writer: keeps records in memory for the summary, writes nothing."""

    json_path: Path | None = None
    csv_path: Path | None = None

    def __init__(
        self, *, options: dict[str, Any] | None = None, targets: dict[str, Any] | None = None
    ) -> None:
        self.options = dict(options or {})
        self.targets = dict(targets or {})
        self._rows: list[Record] = []
        self._runs: list[RunMeta] = []

    @property
    def runs(self) -> list[RunMeta]:
        """The runs added so far, in order."""
        return list(self._runs)

    def add_records(self, records: Iterable[Record]) -> None:
        """Keep the records (in memory) for ``summary()``."""
        self._rows.extend(records)

    def add_run(self, meta: RunMeta) -> None:
        """Note a finished strategy run."""
        self._runs.append(meta)

    def summary(self) -> pd.DataFrame:
        """The summary of every run added so far."""
        return summarize(records_frame(self._rows), self._runs)

    def save(self, complete: bool, interrupted_at: str | None = None) -> None:
        """Nothing to save."""
        return None

    def close(self, complete: bool, interrupted_at: str | None = None) -> None:
        """Nothing to close."""
        return None


@dataclass
class Results:
    """A loaded results file: its metadata, runs and stored summary; records on demand."""

    path: Path
    meta: dict[str, Any]
    runs: list[RunMeta]
    summary: pd.DataFrame
    records_path: Path | None
    warnings: list[str] = field(default_factory=list)
    _records: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def complete(self) -> bool:
        """False when the benchmark was interrupted or cut short."""
        return bool(self.meta.get("complete", False))

    def records(self) -> pd.DataFrame:
        """Every record, read from the CSV on first use (``InputError`` if it is gone)."""
        if self._records is None:
            if self.records_path is None:
                name = self.meta.get("records_file") or "records CSV"
                raise InputError(f"{self.path.parent / str(name)}: records file not found")
            self._records = read_records(self.records_path)
        return self._records


def _json_path_for(path: Path) -> Path:
    """The JSON file of a result set, given its JSON or records CSV path."""
    name = path.name
    if name.endswith(".csv" + PARTIAL_SUFFIX):
        return path.with_name(name[: -len(".csv" + PARTIAL_SUFFIX)] + ".json")
    if name.endswith(".csv"):
        return path.with_name(name[: -len(".csv")] + ".json")
    return path


def _read_document(path: Path) -> dict[str, Any]:
    """The parsed JSON document, or a one-line InputError saying what is wrong with it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such results file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a results file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise InputError(f"{path}: empty file, not a fetchbench results file")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a fetchbench results file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: invalid or truncated JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(f"{path}: not a fetchbench results file")
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"{path}: not a fetchbench results file (bad schema_version {version!r})")
    if version > SCHEMA_VERSION:
        raise InputError(
            f"{path}: written by a newer fetchbench (schema {version}; this reads {SCHEMA_VERSION})"
        )
    return doc


def _parse_runs(path: Path, doc: dict[str, Any]) -> tuple[list[RunMeta], list[dict[str, Any]]]:
    """RunMeta objects and summary rows of a document's "runs"."""
    runs_raw = doc.get("runs")
    if not isinstance(runs_raw, list):
        raise InputError(f'{path}: malformed results file ("runs" is not a list)')
    runs: list[RunMeta] = []
    rows: list[dict[str, Any]] = []
    for i, entry in enumerate(runs_raw):
        if not isinstance(entry, dict):
            raise InputError(f"{path}: malformed results file (run {i + 1} is not an object)")
        try:
            meta = RunMeta(**{k: entry[k] for k in _RUNMETA_FIELDS if k in entry})
        except TypeError:
            raise InputError(
                f"{path}: malformed results file (run {i + 1} lacks strategy/workers/cpus/round)"
            ) from None
        summary = entry.get("summary")
        if not isinstance(summary, dict):
            raise InputError(f"{path}: malformed results file (run {i + 1} has no summary)")
        runs.append(meta)
        rows.append(summary)
    return runs, rows


def load_results(path: str | os.PathLike[str]) -> Results:
    """Load a results file from its JSON path (or its records CSV path).

    Errors are one-line ``InputError``s naming the file. A missing records
    CSV is not an error: the stored summary still loads, with a warning in
    ``Results.warnings``, and ``records()`` raises when called.
    """
    json_path = _json_path_for(Path(path))
    doc = _read_document(json_path)
    runs, rows = _parse_runs(json_path, doc)
    try:
        summary = summary_from_rows(rows)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{json_path}: malformed results file (bad summary: {exc})") from None
    warnings: list[str] = []
    records_file = doc.get("records_file")
    records_path: Path | None = None
    if isinstance(records_file, str) and records_file:
        final = json_path.parent / Path(records_file).name
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        records_path = next((p for p in (final, partial) if p.is_file()), None)
        if records_path is None:
            warnings.append(
                f"{final}: records file not found; only the stored summary is available"
            )
    else:
        warnings.append(f"{json_path}: names no records file; only the stored summary is available")
    meta = {k: v for k, v in doc.items() if k != "runs"}
    return Results(json_path, meta, runs, summary, records_path, warnings)
