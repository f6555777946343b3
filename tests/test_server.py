"""The embedded server, observed from the client side: sizes, keep-alive, faults, errors.

One real server process on 127.0.0.1, port 0, for the module. Times are only
ever asserted as lower bounds: these machines are noisy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psutil
import pytest
import requests
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from fetchbench.errors import FetchbenchError
from fetchbench.server import EmbeddedServer, bind_warning, is_loopback, main
from fetchbench.server_params import ParamError, Plan, parse_plan, plan_for, redirect_location
from fetchbench.server_render import (
    CHUNK,
    HttpError,
    body_pieces,
    chunked_length,
    expected_body,
    parse_head,
)
from tests.helpers import run_python

pytestmark = pytest.mark.timeout(30)

KIB = 1024


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


@pytest.fixture()
def session() -> Iterator[requests.Session]:
    with requests.Session() as sess:
        yield sess


# -- raw-socket helpers -------------------------------------------------------


def connect(server: EmbeddedServer, timeout: float = 5.0) -> socket.socket:
    parts = urlsplit(server.base_url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def read_response(stream) -> tuple[bytes, dict[str, str], bytes]:
    """One Content-Length response from a buffered socket file: status line, headers, body."""
    status = stream.readline()
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", 0))
    return status, headers, stream.read(length)


def read_until_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def exchange(server: EmbeddedServer, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes."""
    with connect(server) as sock:
        sock.sendall(request)
        return read_until_eof(sock)


def split_head(data: bytes) -> tuple[bytes, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


# -- sizes, HEAD, status ---------------------------------------------------------


@pytest.mark.parametrize("nbytes", [0, 1, 1000, 256 * KIB, 256 * KIB + 1, 3 * 1024 * KIB + 7])
def test_body_has_exact_size_and_content_length(server, session, nbytes):
    response = session.get(server.url("/item/17", bytes=nbytes))
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(nbytes)
    assert len(response.content) == nbytes
    assert response.content == expected_body(nbytes)


def test_default_body_is_1_kib(server, session):
    assert len(session.get(server.url()).content) == 1024


def test_head_announces_the_length_without_a_body(server, session):
    response = session.head(server.url("/h", bytes=5000))
    assert response.headers["Content-Length"] == "5000"
    assert response.content == b""
    assert session.get(server.url("/after-head", bytes=3)).content == b"012"  # stream still in sync


@pytest.mark.parametrize("status", [200, 201, 299, 404, 418, 500, 503, 599])
def test_status_code_with_body(server, session, status):
    response = session.get(server.url("/", status=status, bytes=100))
    assert response.status_code == status
    assert len(response.content) == 100


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_send_no_body(server, session, status):
    response = session.get(server.url("/", status=status, bytes=100))
    assert response.status_code == status
    assert response.content == b""
    assert session.get(server.url("/", bytes=7)).content == b"0123456"


# -- keep-alive, HTTP/1.0, pipelining, close ---------------------------------------


def test_keep_alive_one_session_one_connection(server, session):
    before = server.stats()
    for i in range(100):
        assert session.get(server.url(f"/k/{i}", bytes=64)).status_code == 200
    after = server.stats()
    assert after["connections"] - before["connections"] == 1
    assert after["requests"] - before["requests"] == 100


def test_stats_is_json_with_two_counters(server):
    stats = server.stats()
    assert set(stats) == {"connections", "requests"}
    assert server.stats() == stats  # polling does not count


def test_close_param_closes_the_connection(server):
    with connect(server) as sock:
        sock.sendall(b"GET /?close=1&bytes=10 HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = split_head(read_until_eof(sock))  # returns only because the server closed
    assert b"\r\nConnection: close" in head
    assert body == expected_body(10)


def test_close_param_seen_by_requests(server, session):
    response = session.get(server.url(close=1))
    assert response.headers["Connection"] == "close"


def test_http10_closes_after_the_response(server):
    head, body = split_head(exchange(server, b"GET /?bytes=10 HTTP/1.0\r\n\r\n"))
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Content-Length: 10" in head
    assert body == expected_body(10)


def test_http10_keep_alive_on_request(server):
    with connect(server) as sock, sock.makefile("rb") as stream:
        for n in (3, 5):
            sock.sendall(b"GET /?bytes=%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % n)
            status, headers, body = read_response(stream)
            assert status.startswith(b"HTTP/1.1 200")
            assert headers["connection"] == "keep-alive"
            assert body == expected_body(n)


def test_connection_close_header_is_honoured(server):
    head, body = split_head(
        exchange(server, b"GET /?bytes=4 HTTP/1.1\r\nConnection: close\r\n\r\n")
    )
    assert b"Connection: close" in head
    assert body == b"0123"


def test_pipelined_requests_answered_in_order(server):
    requests_ = b"".join(
        b"GET /?bytes=%d%s HTTP/1.1\r\n\r\n" % (n, b"&delay=0.05" if n == 2 else b"")
        for n in (1, 2, 3)
    )
    with connect(server) as sock, sock.makefile("rb") as stream:
        sock.sendall(requests_)
        bodies = [read_response(stream)[2] for _ in range(3)]
    assert bodies == [b"0", b"01", b"012"]


def test_request_body_is_skipped(server):
    data = exchange(
        server,
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /?bytes=2 HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    assert data.startswith(b"HTTP/1.1 405")
    assert b"Allow: GET, HEAD" in data
    assert data.endswith(b"\r\n\r\n01")


# -- delay, drip ---------------------------------------------------------------------


def test_delay_is_a_lower_bound(server, session):
    start = time.perf_counter()
    response = session.get(server.url(delay=0.2))
    assert time.perf_counter() - start >= 0.2
    assert response.status_code == 200


def test_drip_spreads_the_body(server, session):
    start = time.perf_counter()
    response = session.get(server.url(drip=0.3, bytes=5000))
    assert time.perf_counter() - start >= 0.3
    assert response.content == expected_body(5000)


# -- faults --------------------------------------------------------------------------


@pytest.mark.parametrize("nbytes", [0, 1000, 600 * KIB])
def test_reset_is_an_error_at_the_client(server, session, nbytes):
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        session.get(server.url(reset=1, bytes=nbytes))


def test_reset_sends_rst(server):
    with connect(server) as sock:
        sock.sendall(b"GET /?reset=1&bytes=1000 HTTP/1.1\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            read_until_eof(sock)


def test_truncate_sends_fewer_bytes_than_announced(server):
    head, body = split_head(exchange(server, b"GET /?truncate=100&bytes=1000 HTTP/1.1\r\n\r\n"))
    assert b"Content-Length: 1000" in head
    assert body == expected_body(100)


def test_truncate_is_an_error_for_requests(server, session):
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(server.url(truncate=10, bytes=1000))


def test_stall_times_out_the_read(server, session):
    # The head arrives at once, so the timeout hits the body read; requests then
    # raises ConnectionError wrapping urllib3's ReadTimeoutError (not requests.ReadTimeout).
    with pytest.raises(requests.ConnectionError) as caught:
        session.get(server.url(stall=5), timeout=0.3)
    assert isinstance(caught.value.args[0], urllib3.exceptions.ReadTimeoutError)


def test_stall_is_a_read_timeout_while_streaming(server, session):
    response = session.get(server.url(stall=5), timeout=0.3, stream=True)
    assert response.headers["Content-Length"] == "1024"
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        response.raw.read()
    response.close()


def test_stall_closes_after_its_time(server):
    start = time.perf_counter()
    head, body = split_head(exchange(server, b"GET /?stall=0.3 HTTP/1.1\r\n\r\n"))
    assert time.perf_counter() - start >= 0.3
    assert b"Content-Length: 1024" in head
    assert body == b""


@pytest.mark.parametrize("nbytes", [0, 1, 40_000, 300 * KIB])
def test_chunked_body(server, session, nbytes):
    response = session.get(server.url(chunked=1, bytes=nbytes))
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.headers
    assert response.content == expected_body(nbytes)


def test_chunked_to_http10_is_close_delimited(server):
    head, body = split_head(exchange(server, b"GET /?chunked=1&bytes=50 HTTP/1.0\r\n\r\n"))
    assert b"Transfer-Encoding" not in head
    assert body == expected_body(50)


def test_chunked_length_matches_the_pieces():
    for nbytes in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 3):
        wire = sum(len(p) for p in body_pieces(nbytes, CHUNK, chunked=True))
        assert wire == chunked_length(nbytes, CHUNK)


def test_redirect_follows_n_hops(server, session):
    response = session.get(server.url("/r", redirect=3, bytes=10))
    assert len(response.history) == 3
    assert all(r.status_code == 302 for r in response.history)
    assert response.status_code == 200
    assert "redirect=0" in response.url
    assert response.content == expected_body(10)


def test_large_redirect_is_a_loop_for_the_client(server, session):
    with pytest.raises(requests.TooManyRedirects):
        session.get(server.url(redirect=1000))


# -- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "delay=-1",
        "delay=1e9",
        "delay=nan",
        "delay=",
        "bytes=abc",
        "bytes=-5",
        "bytes=1073741825",
        "status=99",
        "status=600",
        "reset=2",
        "stall=61",
        "drip=x",
        "truncate=10&bytes=5",
        "redirect=1001",
        "chunked=yes",
        "close=true",
        "reset=1&stall=1",
    ],
)
def test_bad_parameter_is_a_400_with_a_reason(server, session, query):
    response = session.get(f"{server.base_url}/?{query}")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 0 < len(response.text.strip()) < 100
    assert session.get(server.url(bytes=2)).content == b"01"  # keep-alive survives


def test_unknown_parameters_are_ignored(server, session):
    response = session.get(f"{server.base_url}/x?cb=123&flag&bytes=5&_=%20")
    assert response.status_code == 200
    assert response.content == expected_body(5)


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (b"garbage\r\n\r\n", b"400"),
        (b"GET / HTTP/2.0\r\n\r\n", b"505"),
        (b"GET nopath HTTP/1.1\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"501"),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000, b"431"),
    ],
)
def test_malformed_request_gets_an_error_and_close(server, request_, status):
    data = exchange(server, request_)
    assert data.startswith(b"HTTP/1.1 " + status)
    assert b"Connection: close" in data


def test_bare_lf_request_is_understood(server):
    _, body = split_head(exchange(server, b"GET /?bytes=2 HTTP/1.0\n\n"))
    assert body == b"01"


def test_bare_lf_request_pipelined_before_a_crlf_one(server):
    data = exchange(
        server,
        b"GET /?bytes=2 HTTP/1.1\n\nGET /?bytes=3 HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.endswith(b"\r\n\r\n012")


# -- robustness ----------------------------------------------------------------------


def _abort(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize(
    "query",
    ["bytes=20000000", "drip=2&bytes=10000", "stall=2", "delay=2", "chunked=1&bytes=9000000"],
)
def test_server_survives_client_leaving_mid_response(server, session, query):
    for rude in (False, True):
        sock = connect(server)
        sock.sendall(b"GET /?%s HTTP/1.1\r\n\r\n" % query.encode())
        if "delay" not in query:
            assert sock.recv(1000).startswith(b"HTTP/1.1 200")
        if rude:
            _abort(sock)  # RST from the client's side
        else:
            sock.close()
    assert session.get(server.url(bytes=3)).content == b"012"


def test_server_survives_half_close(server):
    with connect(server) as sock:
        sock.sendall(b"GET /?delay=0.05&bytes=3 HTTP/1.1\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        _, body = split_head(read_until_eof(sock))
    assert body == b"012"


# -- units ---------------------------------------------------------------------------


def test_parse_plan_defaults_and_values():
    assert parse_plan("") == Plan()
    plan = parse_plan("delay=0.5&bytes=10&status=404&chunked=1&close=1&cb=x&bytes=20")
    assert (plan.delay, plan.nbytes, plan.status, plan.chunked, plan.close) == (
        0.5,
        20,
        404,
        True,
        True,
    )
    assert parse_plan("truncate=0&bytes=1").truncate == 0
    with pytest.raises(ParamError, match="bytes"):
        parse_plan("bytes=%2B5")  # "+5": digits only


@pytest.mark.parametrize("query,nbytes", [
    ("&&bytes=5&", 5),  # empty parts skipped
    ("bytes=5&bytes=7", 7),  # the last wins
    ("b%79tes=%31%30", 10),  # names and values percent-decoded
    ("bytes", None),  # a bare name is an empty value: a reason
    ("bytes=5;status=500", None),  # ';' does not separate
    ("bytes=%3", None),  # a bad escape stays as it is
])
def test_query_splitting(query, nbytes):
    plan = plan_for(query)
    assert (plan.nbytes if isinstance(plan, Plan) else None) == nbytes


NAMES = ["delay", "bytes", "status", "reset", "stall", "truncate", "drip", "redirect", "x"]
VALUES = st.one_of(st.text(max_size=6), st.integers(-5, 2000).map(str), st.floats().map(str))
QUERIES = st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=4).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)
)


@given(st.one_of(QUERIES, st.text(max_size=40)))
def test_parse_plan_gives_a_plan_in_range_or_a_reason(query):
    try:
        plan = parse_plan(query)
    except ParamError as err:
        assert str(err)
        return
    assert 0 <= plan.delay <= 60 and 0 <= plan.stall <= 60 and 0 <= plan.drip <= 60
    assert 0 <= plan.nbytes <= 1 << 30 and 200 <= plan.status <= 599
    assert plan.truncate is None or plan.truncate < plan.nbytes
    assert plan.fault_count() <= 1


@given(st.binary(max_size=200))
def test_parse_head_never_fails_otherwise(head):
    try:
        parse_head(head)
    except HttpError as err:
        assert 400 <= err.status < 600


def test_redirect_location_keeps_other_parameters():
    assert redirect_location("/a", "x=1&redirect=3&y=2", 2) == "/a?x=1&redirect=2&y=2"


def test_url_builder(server):
    assert server.url("a", delay=0.5, close=True) == f"{server.base_url}/a?delay=0.5&close=1"
    assert server.url("/b?x=1", bytes=2) == f"{server.base_url}/b?x=1&bytes=2"
    assert server.url() == f"{server.base_url}/"


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
    ],
)
def test_is_loopback(address, loopback):
    assert is_loopback(address) is loopback


def test_bind_warning_only_for_non_loopback():
    assert bind_warning("127.0.0.1") is None
    assert bind_warning("::1") is None
    assert "not a loopback address" in bind_warning("0.0.0.0")


def test_bad_port_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--port", "70000"])
    assert caught.value.code == 2


# -- process life ----------------------------------------------------------------------


def test_foreground_server_exits_0_on_sigint(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchbench.server"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("http://127.0.0.1:")
        assert requests.get(line.strip() + "/?bytes=1", timeout=5).content == b"0"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_embedded_server_leaves_no_process_behind():
    with EmbeddedServer() as srv:
        pid = srv.pid
        assert psutil.pid_exists(pid)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(RuntimeError):
        _ = srv.base_url


def test_embedded_server_that_cannot_start_raises_with_its_stderr():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match="cannot listen"), EmbeddedServer(port=port):
            pass


def test_embedded_server_start_timeout_is_a_clear_error():
    with pytest.raises(RuntimeError, match="did not start within"):
        EmbeddedServer(start_timeout=0.001).start()


def test_no_traceback_on_server_stderr(server):
    # Last on purpose: every test above has had its go at the server by now.
    assert server.stats()["requests"] > 0
    assert "Traceback" not in server.stderr_text()
    assert server.stderr_text().strip() == ""
    assert os.getpid() != server.pid


def test_serve_and_the_module_entry_share_host_and_port(capsys):
    from fetchbench.cli import main as cli_main

    def address_help(entry, argv):
        with pytest.raises(SystemExit):
            entry(argv)
        words = capsys.readouterr().out.split()  # words: the column widths differ
        words = words[words.index("options:"):] + ["--exit-on-stdin-eof"]
        return words[words.index("--host"):words.index("--exit-on-stdin-eof")]

    serve = address_help(cli_main, ["serve", "--help"])
    assert "--port" in serve and "warning)" in serve
    assert address_help(main, ["--help"]) == serve


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_accepted_connections_have_tcp_nodelay(host):
    """The server does not set TCP_NODELAY itself: asyncio's socket transport does."""
    import asyncio

    from fetchbench.server import _listen
    from fetchbench.server_http import ServerState
    from fetchbench.server_loop import run

    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6")
    seen = []

    async def connect_and_look() -> None:
        state = ServerState()
        listener = await _listen(host, 0, state)
        _, writer = await asyncio.open_connection(host, listener.sockets[0].getsockname()[1])
        for _ in range(100):
            if state.open:
                break
            await asyncio.sleep(0.01)
        for conn in state.open:
            sock = conn._transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()
        listener.close()

    try:
        run(connect_and_look())
    except FetchbenchError as exc:  # cannot bind ::1 here
        pytest.skip(str(exc))
    assert seen and all(seen)


def test_embedded_server_can_be_started_from_a_gevent_patched_program():
    """gevent's patched selectors has no EpollSelector: the server's loop module is
    imported only in the server's own (unpatched) process."""
    script = ("from gevent import monkey; monkey.patch_all()\n"
              "import urllib.request\n"
              "from fetchbench.server import EmbeddedServer\n"
              "with EmbeddedServer() as server:\n"
              "    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
              "    print(len(opener.open(server.url(bytes=7)).read()))\n")
    done = run_python(script)
    assert (done.returncode, done.stdout.strip()) == (0, "7"), done.stderr[-2000:]
