"""The command line as a user meets it: real processes, exit statuses, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fetchbench import targets
from fetchbench.cli import (
    _duration_text,
    _range_text,
    _size_text,
    flags_given,
    parse_run_options,
    reject_flags,
)
from fetchbench.errors import UsageError
from fetchbench.options import (
    DEFAULT_COUNT,
    DEFAULT_DELAY,
    DEFAULT_SEED,
    DEFAULT_SIZE,
    RunOptions,
)
from fetchbench.strategies import ALL
from tests.helpers import assert_one_line_exit_2


def fetchbench(*args: str, cwd: Path | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "fetchbench", *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd,
    )


def assert_usage_error(result, *fragments: str) -> None:
    assert "Traceback" not in result.stderr
    assert_one_line_exit_2(result.returncode, result.stderr, *fragments)


def test_bad_url_file_names_file_and_line(tmp_path):
    urls = tmp_path / "urls.txt"
    lines = ["# targets", "http://127.0.0.1:9/a"] + ["http://127.0.0.1:9/b"] * 14 + ["ftp://x"]
    urls.write_text("\n".join(lines) + "\n")
    result = fetchbench(str(urls), "--no-save")
    assert_usage_error(result, f"{urls}:17: not an http(s) URL: 'ftp://x'")


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--strategy", "thred"], "did you mean 'thread'"),
        (["--strategy", ""], "--strategy"),
        (["--workers", "0"], "--workers"),
        (["--workers", "-3"], "--workers"),
        (["--workers", "many"], "--workers"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "soon"], "--timeout"),
        (["--cpus", "999"], "--cpus"),
        (["--repeat", "0"], "--repeat"),
        (["--max-bytes", "12QB"], "--max-bytes"),
        (["--format", "xml"], "--format"),
        (["--bogus"], "--bogus"),
        (["--thr", "5"], "--thr"),  # no prefix matching: it would dodge "only with --compare"
        (["serve", "--port", "٣"], "--port"),  # a digit, but not an ASCII one
        (["--size", "2GiB"], "--size"),
        (["--size", "256k..1k"], "--size"),
        (["--delay", "90s"], "--delay"),
        (["missing-file.txt"], "missing-file.txt"),
    ],
)
def test_bad_flags_are_one_line_exit_2(args, fragment, tmp_path):
    assert_usage_error(fetchbench(*args, "--no-save", cwd=tmp_path), fragment)


def test_embedded_flags_with_a_url_file_are_refused(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/\n")
    assert_usage_error(fetchbench(str(urls), "--urls", "5"), "--urls")


@pytest.mark.parametrize("args,message", [
    (["urls.txt", "--size", "1KiB", "--urls=5"],
     "--size: applies only to the embedded targets (no URLS_FILE)"),
    (["--strategy", "thread", "--loop", "asyncio"],
     "--loop: applies only to the asyncio and process-asyncio strategies"),
    (["--strategy", "thread", "--scheduler="], "--scheduler: applies only to --strategy dask"),
    (["--alpha", "0.1", "--threshold=5"], "--threshold: applies only with --compare BASE.json"),
])
def test_flags_out_of_place_name_the_flag_and_where_it_applies(args, message):
    with pytest.raises(UsageError) as raised:
        parse_run_options(args)
    assert str(raised.value) == message


def test_reject_flags_looks_only_at_flags_before_a_double_dash():
    assert flags_given(["--urls=5", "--seed", "1", "--", "--size"],
                       ("--size", "--seed", "--urls")) == ["--seed", "--urls"]
    reject_flags(["--", "--urls"], ("--urls",), "nowhere")  # a file named --urls
    with pytest.raises(UsageError, match="^--urls: applies only nowhere$"):
        reject_flags(["--urls", "3"], ("--urls",), "nowhere")


def test_embedded_defaults_come_from_one_place():
    options = parse_run_options([])
    assert (options.url_count, options.delay, options.size, options.seed) == (
        DEFAULT_COUNT, DEFAULT_DELAY, DEFAULT_SIZE, DEFAULT_SEED)
    assert options == RunOptions(None, options.strategies, None, options.cpus)


@pytest.mark.parametrize("delay", [(0.0, 0.1), (0.0, 0.0), (0.05, 0.05), (0.0015, 2.5), (1.0, 60.0)])
@pytest.mark.parametrize("size", [(1024, 262144), (0, 0), (1000, 1 << 30), (1536, 3 << 20)])
def test_default_texts_read_back_as_the_defaults(delay, size):
    assert targets.parse_range(_range_text(delay, _duration_text),
                               lambda t: targets.parse_duration(t, "--delay")) == delay
    assert targets.parse_range(_range_text(size, _size_text), targets.parse_size) == size


def test_unwritable_results_dir_fails_before_measuring(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = fetchbench("--strategy", "serial", "--urls", "3", "-o", str(blocker / "sub"))
    assert_usage_error(result, str(blocker))


def test_help_lists_every_flag():
    result = fetchbench("--help")
    assert result.returncode == 0
    assert "(default: 0..100ms)" in result.stdout and "(default: 1KiB..256KiB)" in result.stdout
    for flag in ("--strategy", "--workers", "--cpus", "--timeout", "--max-bytes", "--no-keepalive",
                 "--urls", "--delay", "--size", "--format", "--output", "--no-save", "--quiet",
                 "--client"):
        assert flag in result.stdout


def test_end_to_end_embedded_run_saves_and_shows(tmp_path):
    result = fetchbench("--strategy", "all", "--urls", "20", "--delay", "0", "--size", "1KiB",
                        "--cpus", "1", "-o", str(tmp_path / "out"), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ALL:  # the classic five and the cheap others installed
        assert name in result.stdout
    assert "Throughput (req/s)" in result.stdout
    saved = sorted((tmp_path / "out").glob("*.json"))
    assert len(saved) == 1
    data = json.loads(saved[0].read_text())
    assert data["complete"] is True and len(data["runs"]) == len(ALL)
    records = saved[0].with_suffix(".csv").read_text().splitlines()
    assert len(records) == 1 + len(ALL) * 20
    shown = fetchbench("show", str(saved[0]))
    assert shown.returncode == 0 and "gevent-pool" in shown.stdout


def test_url_file_run_as_json(server, tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("\ufeff# BOM and CRLF\r\n" + "".join(
        server.url(f"/f/{i}", bytes=2048) + "\r\n" for i in range(10)))
    result = fetchbench(str(urls), "--strategy", "thread,serial", "--workers", "3",
                        "--format", "json", "--no-save", "--quiet")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {row["strategy"] for row in rows} == {"thread", "serial"}
    assert all(row["ok"] == 10 and row["mib"] == pytest.approx(10 * 2048 / 2**20) for row in rows)


def test_show_rejects_unusable_files(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    truncated = tmp_path / "truncated.json"
    truncated.write_text('{"schema": "fetchbench-results", "schema_ver')
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"hello": "world"}')
    newer = tmp_path / "newer.json"
    newer.write_text('{"schema": "fetchbench-results", "schema_version": 99, "runs": []}')
    for path in (empty, truncated, foreign, newer, tmp_path / "missing.json"):
        assert_usage_error(fetchbench("show", str(path)), str(path))

