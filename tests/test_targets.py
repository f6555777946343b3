"""targets: URL files (good, bad and fuzzed), the embedded mix, and option parsers."""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fetchbench import targets
from fetchbench.errors import InputError, UsageError
from fetchbench.targets import (
    embedded_mix,
    load_url_file,
    parse_duration,
    parse_int_list,
    parse_range,
    parse_size,
    url_problem,
)


def write(tmp_path: Path, content: str | bytes, name: str = "urls.txt") -> str:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return str(path)


def load_error(path: str) -> str:
    with pytest.raises(InputError) as info:
        load_url_file(path)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    return message


# ------------------------------------------------------------- URL files: good


def test_comments_blank_lines_and_whitespace_are_skipped(tmp_path):
    path = write(
        tmp_path,
        "# targets\n\n   \n  http://a.example/x  \n\t# indented comment\nhttps://b.example:8443/?q=1#frag\n",
    )
    assert load_url_file(path) == ["http://a.example/x", "https://b.example:8443/?q=1#frag"]


def test_crlf_and_bom_are_tolerated(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfhttp://a.example/\r\n# c\r\nhttp://b.example/\r\n")
    assert load_url_file(path) == ["http://a.example/", "http://b.example/"]


def test_path_objects_are_accepted(tmp_path):
    write(tmp_path, "http://a/\n")
    assert load_url_file(tmp_path / "urls.txt") == ["http://a/"]


def test_duplicates_and_order_are_kept(tmp_path):
    path = write(tmp_path, "http://b/\nhttp://a/\nhttp://b/\n")
    assert load_url_file(path) == ["http://b/", "http://a/", "http://b/"]


def test_scheme_case_is_normalised(tmp_path):
    assert load_url_file(write(tmp_path, "HTTP://a.example/X\nHttps://b/\n")) == [
        "http://a.example/X",
        "https://b/",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:8080/",
        "http://[::1]/",
        "http://[2001:db8::8a2e:370:7334]/path",
        "http://[::ffff:192.0.2.1]:1/",
        "http://bücher.example/",
        "https://日本語.jp/パス?q=値",
        "http://xn--bcher-kva.example/",
        "http://127.0.0.1:65535/",
        "http://host:1/",
        "http://host:08080/",
        "http://host.example./",
        "http://user:pa%40ss@host/",
        "http://host/a%20b?x=1&y=%zz#frag",
        "http://under_score.example/",
        "http://host",
        "http://host?q",
    ],
)
def test_valid_urls_load_and_prepare(tmp_path, url):
    assert load_url_file(write(tmp_path, url + "\n")) == [url]
    requests.Request("GET", url).prepare()


# -------------------------------------------------------------- URL files: bad


def test_bad_scheme_names_file_line_and_text(tmp_path):
    lines = ["# targets", "http://127.0.0.1:9/a"] + ["http://127.0.0.1:9/b"] * 14 + ["ftp://x"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert load_error(path) == f"{path}:17: not an http(s) URL: 'ftp://x'"


def test_relative_path_is_shown_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "http://a/\nexample.com\n")
    assert load_error("urls.txt") == "urls.txt:2: not an http(s) URL: 'example.com'"


def test_first_error_wins(tmp_path):
    path = write(tmp_path, "http://a/\nhttp://x:0/\nftp://y\n")
    assert load_error(path).startswith(f"{path}:2: port out of range: ")


@pytest.mark.parametrize(
    "line,reason",
    [
        ("ftp://x", "not an http(s) URL"),
        ("http:/x", "not an http(s) URL"),
        ("//host/path", "not an http(s) URL"),
        ("http:///path", "not an http(s) URL (no host)"),
        ("http://:80/", "not an http(s) URL (no host)"),
        ("http://host:0/", "port out of range"),
        ("http://host:65536/", "port out of range"),
        ("http://host:99999999999999999999/", "port out of range"),
        ("http://host:" + "9" * 5000 + "/", "port out of range"),
        ("http://host:8o/", "invalid port"),
        ("http://host:１２/", "invalid port"),
        ("http://host:80:81/", "IPv6 address must be in brackets"),
        ("http://a host/", "contains whitespace"),
        ("http://host/a b", "contains whitespace"),
        ("http://host/a\tb", "contains whitespace"),
        ("http://host/\u00a0x", "contains whitespace"),
        ("http://host/a\x00b", "contains a NUL character"),
        ("http://host/a\x07b", "contains a control character (U+0007)"),
        ("http://host/a\u200bb", "contains a non-printable character (U+200B)"),
        ("http://☃.com/", "host name cannot be IDNA-encoded"),
        ("http://ex\u3002ample/", "host name cannot be IDNA-encoded"),
        ("http://[::1/", "invalid IPv6 literal"),
        ("http://[::g]/", "invalid IPv6 literal"),
        ("http://[1:2:3:4:5:6:7:8:9]/", "invalid IPv6 literal"),
        ("http://[::1]x/", "invalid IPv6 literal"),
        ("http://[::1]:0/", "port out of range"),
        ("http://[fe80::1%25eth0]/", "IPv6 zone IDs"),
        ("http://::1/", "IPv6 address must be in brackets"),
        ("http://a..b/", "empty label"),
        ("http://.a/", "empty label"),
        ("http://*.a/", "invalid character '*'"),
        ("http://a\\b/", "invalid character '\\\\'"),
        ("http://" + "a" * 64 + ".com/", "host name label longer than 63"),
        ("http://" + ("a" * 60 + ".") * 5 + "com/", "host name longer than 253"),
        ("http://us er@host/", "contains whitespace"),
        ("http://us\u20acr@host/", "bad user:password"),
        ("http://u:%E2%82%AC@host/", "bad user:password"),
    ],
)
def test_bad_lines_have_a_reason(tmp_path, line, reason):
    path = write(tmp_path, f"http://ok/\n\n{line}\n")
    message = load_error(path)
    assert message.startswith(f"{path}:3: {reason}"), message
    assert url_problem(line) is not None


def test_long_bad_line_is_cut_to_about_80_characters(tmp_path):
    line = "ftp://" + "x" * 5000
    path = write(tmp_path, line)
    message = load_error(path)
    shown = message.split(": not an http(s) URL: ", 1)[1]
    assert shown.startswith("'ftp://xxx") and "... (5006 characters)" in shown
    assert len(shown) < 110


def test_long_bad_line_of_escapes_is_cut_too(tmp_path):
    message = load_error(write(tmp_path, "\x01" * 1000))
    assert len(message) < len(str(tmp_path)) + 150


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.txt")
    assert load_error(path) == f"{path}: no such file"


def test_directory(tmp_path):
    assert load_error(str(tmp_path)).startswith(f"{tmp_path}: is a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file(tmp_path):
    path = write(tmp_path, "http://a/\n")
    os.chmod(path, 0)
    assert load_error(path).startswith(f"{path}: cannot read")


@pytest.mark.parametrize(
    "error,reason",
    [
        (PermissionError(13, "Permission denied"), "permission denied"),
        (OSError(5, "I/O error"), "I/O error"),
    ],
)
def test_read_errors_are_one_line(tmp_path, monkeypatch, error, reason):
    path = write(tmp_path, "http://a/\n")

    def failing_open(*args, **kwargs):
        raise error

    monkeypatch.setattr(targets, "open", failing_open, raising=False)
    assert load_error(path) == f"{path}: cannot read: {reason}"


@pytest.mark.parametrize("content", ["", "\n\n", "# only\n  # comments\r\n", "\ufeff"])
def test_no_urls(tmp_path, content):
    path = write(tmp_path, content)
    assert load_error(path).startswith(f"{path}: no URLs")


def test_not_utf8_names_the_line_of_the_first_bad_byte(tmp_path):
    path = write(tmp_path, b"http://a/\r\nhttp://b/\nhttp://c/\xff\xfe\nhttp://d/\xff\n")
    assert load_error(path) == f"{path}:3: not UTF-8 text"


def test_bad_url_above_bad_bytes_is_reported_first(tmp_path):
    path = write(tmp_path, b"http://a/\nftp://b\n\xff\n")
    assert load_error(path).startswith(f"{path}:2: not an http(s) URL")


def test_latin1_file_is_not_utf8(tmp_path):
    path = write(tmp_path, "http://bücher.example/\n".encode("latin-1"))
    assert load_error(path) == f"{path}:1: not UTF-8 text"


def test_nul_in_path_is_an_input_error():
    assert load_error("bad\x00name").startswith("'bad\\x00name': cannot read")


def test_large_file_is_fast(tmp_path, monkeypatch):
    # What makes a large file fast, checked as work done rather than seconds
    # (wall time on a shared machine says nothing): common lines take the
    # one-regex fast path, only the others reach the careful url_problem, and
    # a repeated IPv6 host is parsed once (cached), not once per line.
    lines = [f"https://host{i % 50}.example.com/path/{i}?q={i}" for i in range(200_000)]
    lines[::7] = ["http://[::1]:8080/x"] * len(lines[::7])
    path = write(tmp_path, "\r\n".join(lines))
    careful: list[str] = []

    def counting_url_problem(url):
        careful.append(url)
        return url_problem(url)

    monkeypatch.setattr(targets, "url_problem", counting_url_problem)
    ipv6_before = targets._ipv6_hostport_problem.cache_info()
    assert load_url_file(path) == lines
    ipv6_after = targets._ipv6_hostport_problem.cache_info()
    assert careful == lines[::7]  # the 171,428 common lines never left the fast path
    assert ipv6_after.misses - ipv6_before.misses <= 1
    assert ipv6_after.hits - ipv6_before.hits >= len(lines[::7]) - 1


# ----------------------------------------------------- URL files: properties

SCHEMES = st.sampled_from(
    ["http"] * 4 + ["https"] * 3 + ["HTTP", "hTTps", "ftp", "file", "", "http:", "http:/"]
)
ASCII_LABEL = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,12}", fullmatch=True)
IDN_LABEL = st.text(alphabet="abcxyzüöäéçñßøåæ日本語中文пример-_.☃\u3002", min_size=1, max_size=10)
HOSTS = st.one_of(
    st.lists(ASCII_LABEL, min_size=1, max_size=4).map(".".join),
    st.lists(st.one_of(ASCII_LABEL, IDN_LABEL), min_size=1, max_size=3).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip.exploded}]"),
    st.sampled_from(["", "[::1", "[::1]x", "::1", "[fe80::1%25eth0]", "a..b", ".a", "*.a"]),
    st.sampled_from(["[::ffff:1.2.3.4]", "[1::1.2.3.4]", "[1:2:3:4:5:6:1.2.3.4]", "[::]"]),
    st.text(max_size=12),
)
PORTS = st.one_of(
    st.just(""),
    st.integers(-1, 70000).map(lambda p: f":{p}"),
    st.sampled_from([":", ":0", ":00080", ":8o", ":65536", ":" + "9" * 30]),
)
USERINFO = st.one_of(
    st.just(""),
    st.sampled_from(["user@", "u:p@", "@", "u:%41@", "u:%E2%82%AC@", "ü:x@", "a b@"]),
)
PATHS = st.one_of(
    st.just(""),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20).map(lambda s: "/" + s),
    st.sampled_from(["/?q=1&r=2#f", "/a%20b", "/%zz", "?x", "#y", "/\\x", "/a b", "/\x00"]),
)
URLS = st.builds(
    lambda scheme, userinfo, host, port, path: f"{scheme}://{userinfo}{host}{port}{path}",
    SCHEMES,
    USERINFO,
    HOSTS,
    PORTS,
    PATHS,
)
JUNK = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "   ", "# comment", "\ufeff", "\x00", "http://a b/", "ftp://x"]),
    st.builds(lambda n: "http://h/" + "x" * n, st.integers(200, 3000)),
)
LINES = st.lists(st.one_of(URLS, URLS, JUNK), max_size=8)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_outcome(path: str) -> list[str] | None:
    """load_url_file returns good URLs or raises a one-line InputError: nothing else."""
    try:
        urls = load_url_file(path)
    except InputError as e:
        message = str(e)
        assert message.startswith(path + ":"), message
        assert "\n" not in message and "\r" not in message and message.isprintable()
        return None
    assert urls and all(isinstance(u, str) for u in urls)
    for url in urls:
        assert url.startswith(("http://", "https://")), url
        assert not any(ch.isspace() for ch in url), url
    return urls


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash(scratch, data):
    check_outcome(write(scratch, data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=LINES,
    crlf=st.booleans(),
    bom=st.booleans(),
    junk_bytes=st.one_of(st.just(b""), st.binary(min_size=1, max_size=4)),
    where=st.integers(0, 1000),
)
def test_mixed_files_give_good_urls_or_one_line_errors(
    scratch, lines, crlf, bom, junk_bytes, where
):
    data = ("\r\n" if crlf else "\n").join(lines).encode("utf-8")
    if junk_bytes:
        cut = where % (len(data) + 1)
        data = data[:cut] + junk_bytes + data[cut:]
    if bom:
        data = b"\xef\xbb\xbf" + data
    urls = check_outcome(write(scratch, data))
    for url in urls or []:
        requests.Request("GET", url).prepare()


@settings(max_examples=1000, deadline=None)
@given(url=URLS)
def test_every_accepted_url_prepares_in_requests(url):
    if url_problem(url) is None:
        requests.Request("GET", targets._lower_scheme(url)).prepare()


@settings(max_examples=300, deadline=None)
@given(url=URLS)
def test_fast_path_agrees_with_full_check(url):
    if targets._FAST_URL.fullmatch(url) and len(url) < targets._FAST_MAX_LEN:
        assert url_problem(url) is None


@settings(max_examples=200, deadline=None)
@given(
    host=st.one_of(
        st.lists(ASCII_LABEL, min_size=1, max_size=4).map(".".join),
        st.ip_addresses(v=4).map(str),
        st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    ),
    port=st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
    path=st.sampled_from(["", "/", "/a/b?c=d&e=f#g", "/%7Euser", "?q"]),
)
def test_ordinary_urls_are_accepted(host, port, path):
    assert url_problem(f"https://{host}{port}{path}") is None


# ------------------------------------------------------------- embedded mix


def parsed_mix(urls: list[str]) -> list[tuple[str, float, int]]:
    out = []
    for url in urls:
        parts = urlsplit(url)
        query = parse_qs(parts.query, strict_parsing=True)
        out.append((parts.path, float(query["delay"][0]), int(query["bytes"][0])))
    return out


def test_mix_is_deterministic_and_seeded():
    base = "http://127.0.0.1:8000"
    assert embedded_mix(base) == embedded_mix(base)
    assert embedded_mix(base, seed=1) != embedded_mix(base)
    assert len(embedded_mix(base)) == 200


def test_mix_urls_carry_delay_and_bytes_in_range():
    urls = embedded_mix("http://127.0.0.1:8000/", count=500, delay=(0.01, 0.05), size=(100, 10_000))
    assert len(urls) == 500
    rows = parsed_mix(urls)
    assert [path for path, _, _ in rows] == [f"/item/{i}" for i in range(500)]
    for url in urls:
        assert url_problem(url) is None
        assert "delay=" in url and "bytes=" in url and "//item" not in url
    delays = [d for _, d, _ in rows]
    sizes = [b for _, _, b in rows]
    assert all(0.01 <= d <= 0.05 and d == round(d, 3) for d in delays)
    assert all(100 <= b <= 10_000 for b in sizes)
    assert len(set(sizes)) > 400 and len(set(delays)) > 30


def test_mix_delay_text_is_millisecond_precision():
    url = embedded_mix("http://h", count=1)[0]
    delay_text = parse_qs(urlsplit(url).query)["delay"][0]
    assert len(delay_text.split(".")[1]) == 3


def test_mix_sizes_are_log_uniform():
    sizes = [b for _, _, b in parsed_mix(embedded_mix("http://h", count=4000))]
    # log-uniform on [1 KiB, 256 KiB]: the median is near the geometric mean (16 KiB)
    assert 0.75 < statistics.median(sizes) / math.sqrt(1024 * 262144) < 1.33
    assert sum(b < 4096 for b in sizes) > 0.15 * len(sizes)


def test_mix_fixed_values_when_low_equals_high():
    rows = parsed_mix(embedded_mix("http://h", count=20, delay=(0.02, 0.02), size=(777, 777)))
    assert {(d, b) for _, d, b in rows} == {(0.02, 777)}
    rows = parsed_mix(embedded_mix("http://h", count=5, delay=(0, 0), size=(0, 0)))
    assert {(d, b) for _, d, b in rows} == {(0.0, 0)}


def test_mix_zero_low_size_stays_in_range():
    sizes = [b for _, _, b in parsed_mix(embedded_mix("http://h", count=300, size=(0, 100)))]
    assert all(0 <= b <= 100 for b in sizes)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": 0},
        {"delay": (0.2, 0.1)},
        {"delay": (-1.0, 0.1)},
        {"size": (10, 5)},
        {"size": (-1, 5)},
    ],
)
def test_mix_bad_arguments_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        embedded_mix("http://h", **kwargs)


# ------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1024", 1024),
        ("0", 0),
        ("64k", 65536),
        ("64K", 65536),
        ("64KiB", 65536),
        ("64kib", 65536),
        ("64kB", 64000),
        ("1MiB", 1048576),
        ("1m", 1048576),
        ("1MB", 1_000_000),
        ("1mb", 1_000_000),
        ("1GB", 10**9),
        ("1GiB", 2**30),
        ("1.5k", 1536),
        ("1.5", 2),
        (".5k", 512),
        (" 2 KiB ", 2048),
        ("10b", 10),
    ],
)
def test_parse_size_good(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text", ["12QB", "", "k", "-1", "-1k", "1e3", "1,5k", "nan", "inf", "1..2", "١٢"]
)
def test_parse_size_bad(text):
    with pytest.raises(UsageError) as info:
        parse_size(text, "--max-bytes")
    assert str(info.value).startswith("--max-bytes: ")
    assert "\n" not in str(info.value)


def test_parse_size_message():
    with pytest.raises(UsageError, match=r"^--size: cannot parse '12QB' as a size$"):
        parse_size("12QB")
    with pytest.raises(UsageError, match="too large"):
        parse_size("9" * 40)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("0.1", 0.1),
        ("100ms", 0.1),
        ("2s", 2.0),
        ("1m", 60.0),
        ("1.5h", 5400.0),
        ("0", 0.0),
        ("250us", 0.00025),
        (" 3 S", 3.0),
    ],
)
def test_parse_duration_good(text, expected):
    assert parse_duration(text, "--timeout") == pytest.approx(expected)


@pytest.mark.parametrize("text", ["soon", "", "-1", "-0.5s", "1d", "1e3", "nan", "inf", "1" * 400])
def test_parse_duration_bad(text):
    with pytest.raises(UsageError) as info:
        parse_duration(text, "--timeout")
    assert str(info.value).startswith("--timeout: ")


def test_parse_range():
    size = lambda t: parse_size(t, "--size")  # noqa: E731
    assert parse_range("1k..256k", size) == (1024, 262144)
    assert parse_range("4k", size) == (4096, 4096)
    assert parse_range("0..100ms", lambda t: parse_duration(t, "--delay")) == (0.0, 0.1)
    assert parse_range("5..5", size) == (5, 5)
    with pytest.raises(UsageError, match=r"^--size: range '256k\.\.1k' goes down"):
        parse_range("256k..1k", size, option="--size")
    with pytest.raises(UsageError, match="^range"):
        parse_range("2..1", size)
    for bad in ["..5", "5..", "1..2..3", "a..b"]:
        with pytest.raises(UsageError, match="^--size: "):
            parse_range(bad, size)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1,2,4", [1, 2, 4]),
        ("4,1,2,2", [1, 2, 4]),
        ("1..64x2", [1, 2, 4, 8, 16, 32, 64]),
        ("1..100x10", [1, 10, 100]),
        ("3..20x2", [3, 6, 12]),
        ("1..4", [1, 2, 3, 4]),
        ("5", [5]),
        ("1..4, 8..32x2", [1, 2, 3, 4, 8, 16, 32]),
        ("2..2", [2]),
        ("1..8X2", [1, 2, 4, 8]),
    ],
)
def test_parse_int_list_good(text, expected):
    assert parse_int_list(text, "--workers") == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "-3",
        "many",
        "1,,2",
        "1..",
        "..4",
        "4..1",
        "1..8x1",
        "1..8x0",
        "1.5",
        "1..100000000",
        "9" * 30,
        "1..64x",
    ],
)
def test_parse_int_list_bad(text):
    with pytest.raises(UsageError) as info:
        parse_int_list(text, "--workers")
    assert str(info.value).startswith("--workers: ")


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="0123456789.,xkKmMiBbs -", max_size=16))
def test_parsers_raise_only_usage_errors(text):
    for parse in (
        parse_size,
        lambda t: parse_duration(t, "--x"),
        lambda t: parse_int_list(t, "--x"),
    ):
        try:
            value = parse(text)
        except UsageError as e:
            assert "\n" not in str(e)
        else:
            if isinstance(value, list):
                assert value == sorted(set(value)) and all(v >= 1 for v in value)
            else:
                assert value >= 0 and math.isfinite(value)


def test_range_low_end_takes_the_high_ends_unit():
    from fetchbench.targets import parse_duration, parse_range, parse_size

    assert parse_range("20..60ms", lambda t: parse_duration(t, "--delay")) == (0.02, 0.06)
    assert parse_range("1..64KiB", lambda t: parse_size(t, "--size")) == (1024, 65536)
    assert parse_range("0.5..2", lambda t: parse_duration(t, "--delay")) == (0.5, 2.0)
