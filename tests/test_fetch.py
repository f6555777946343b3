"""fetch.Fetcher against the real embedded server, for every client: bytes, classes, keep-alive."""

from __future__ import annotations

import socket
import time

import pytest

from fetchbench.fetch import (
    CLIENTS,
    GEVENT_CLIENTS,
    FetchConfig,
    Fetcher,
    RunLabel,
    classify,
    http_error_class,
    new_client,
)


@pytest.fixture(params=CLIENTS)
def client(request):
    """Tests that fetch run once per HTTP client (gevent's too: its sockets need no patch)."""
    if request.param in GEVENT_CLIENTS:
        pytest.importorskip(request.param)
    return request.param


@pytest.fixture
def make_fetcher(client):
    def make(**config) -> Fetcher:
        label = RunLabel("serial", 1, 1, 1, time.perf_counter())
        return Fetcher(FetchConfig(client=client, **config), label)

    return make


@pytest.mark.parametrize("size", [0, 1, 1024, 300_000])
def test_counts_exact_body_bytes(server, size, make_fetcher):
    record = make_fetcher().fetch(3, server.url("/item/3", bytes=size))
    assert (record.error, record.status, record.bytes, record.index) == ("", 200, size, 3)
    assert 0 <= record.ttfb <= record.latency
    assert record.start >= 0


@pytest.mark.parametrize("status,error", [(404, "http_4xx"), (503, "http_5xx"), (204, "")])
def test_http_status_classes(server, status, error, make_fetcher):
    record = make_fetcher().fetch(0, server.url(status=status, bytes=10))
    assert (record.status, record.error) == (status, error)


def test_body_past_max_bytes_is_too_large_and_cut(server, make_fetcher):
    record = make_fetcher(max_bytes=100_000).fetch(0, server.url(bytes=5_000_000))
    assert record.error == "too_large"
    assert 100_000 < record.bytes < 5_000_000


def test_refused_and_dns_are_records(server, make_fetcher):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens: bound, never listening
        refused = make_fetcher(timeout=2).fetch(0, f"http://127.0.0.1:{port}/")
    unresolvable = make_fetcher(timeout=2).fetch(1, "http://no-such-host.invalid/")
    assert refused.error == "connect"
    assert unresolvable.error == "dns"
    assert "Connection refused" in refused.message


def test_stalled_response_is_cut_at_timeout(server, make_fetcher):
    begin = time.perf_counter()
    record = make_fetcher(timeout=0.3).fetch(0, server.url(stall=5))
    assert record.error == "timeout"
    assert time.perf_counter() - begin < 5  # cut, not waited out


def test_keepalive_reuses_one_connection_and_no_keepalive_does_not(server, make_fetcher):
    def connections_for(keepalive: bool) -> int:
        before = server.stats()["connections"]
        fetcher = make_fetcher(keepalive=keepalive)
        for i in range(20):
            assert fetcher.fetch(i, server.url(bytes=100)).error == ""
        fetcher.close()
        return server.stats()["connections"] - before

    assert connections_for(True) == 1
    assert connections_for(False) == 20


def _pools(fetcher: Fetcher) -> list:
    """The connection pools (one per origin) the fetcher's client holds: for
    requests, those of every adapter's pool manager and proxy managers."""
    client = fetcher.client
    if hasattr(client, "hosts"):
        return list(client.hosts.values())
    if hasattr(client, "session"):
        adapters = [client.session.get_adapter(prefix) for prefix in ("http://", "https://")]
        managers = [m for a in adapters for m in (a.poolmanager, *a.proxy_manager.values())]
    else:
        managers = [client.pool]
    return [m.pools[key] for m in managers for key in m.pools.keys()]  # noqa: SIM118 - no iter()


@pytest.fixture
def fresh_environment(monkeypatch):
    """fetch reads this test's environment, not one an earlier test left cached."""
    from fetchbench import fetch

    monkeypatch.setattr(fetch, "_ENVIRONMENT", {})


@pytest.fixture
def ca_bundle(fresh_environment, monkeypatch, tmp_path):
    """An (empty) REQUESTS_CA_BUNDLE in the environment; its path."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    return bundle


@pytest.fixture
def environment_proxy(fresh_environment, server, monkeypatch):
    """HTTP_PROXY is the embedded server, and no other proxy variable is set."""
    monkeypatch.setenv("HTTP_PROXY", server.base_url)
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_prepare_builds_the_pool_the_first_request_uses_without_connecting(server, make_fetcher):
    """Fetcher.prepare moves the client's own set-up out of the first timed
    request: the pool exists, no connection is opened, and the request uses it."""
    fetcher = make_fetcher()
    before = server.stats()["connections"]
    fetcher.prepare(server.url("/a", bytes=10))
    prepared = _pools(fetcher)
    assert len(prepared) == 1
    assert server.stats()["connections"] == before
    records = [fetcher.fetch(i, server.url(f"/b/{i}", bytes=10)) for i in range(3)]
    assert [(r.error, r.bytes) for r in records] == [("", 10)] * 3
    assert _pools(fetcher) == prepared  # the same pool object, not a second one
    assert server.stats()["connections"] == before + 1
    fetcher.close()


def test_requests_prepare_builds_the_pools_of_proxies_and_ca_bundles_too(ca_bundle,
                                                                         environment_proxy):
    """requests keys its pools by proxy and by TLS settings: prepare must build
    the very pool the GET then uses (one pool per manager: a wrong key would
    replace it), through an environment proxy and with REQUESTS_CA_BUNDLE."""
    with socket.socket() as probe:  # a port nobody listens on: https fails at connect
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]

    for url, error in [("http://fetchbench.invalid/proxied?bytes=10", ""),
                       (f"https://127.0.0.1:{closed}/tls", "connect")]:
        fetcher = Fetcher(FetchConfig(client="requests"), RunLabel("serial", 1, 1, 1, 0.0))
        fetcher.prepare(url)
        prepared = _pools(fetcher)
        assert len(prepared) == 1, url
        assert fetcher.fetch(0, url).error == error
        assert _pools(fetcher) == prepared, url
        fetcher.close()


def test_prepare_of_a_url_the_client_cannot_use_is_left_to_fetch(make_fetcher):
    fetcher = make_fetcher()
    fetcher.prepare("http://[::1")  # no exception: the fetch records the failure
    assert fetcher.fetch(0, "http://[::1").error == "other"


def test_deadline_passed_means_not_run(server, make_fetcher):
    record = make_fetcher(deadline=time.perf_counter() - 1).fetch(0, server.url())
    assert record.error == "not_run"


def test_http_error_class_boundaries():
    assert [http_error_class(s) for s in (200, 399, 400, 499, 500, 599)] == [
        "", "", "http_4xx", "http_4xx", "http_5xx", "http_5xx"]


def test_classify_unknown_exception_is_other():
    assert classify(ValueError("x"))[0] == "other"


def test_large_body_is_counted_not_held(server, make_fetcher):
    import tracemalloc

    fetcher = make_fetcher(max_bytes=20 * 2**20)
    tracemalloc.start()
    try:
        record = fetcher.fetch(0, server.url(bytes=60 * 2**20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record.error == "too_large"
    assert record.bytes > 20 * 2**20
    assert peak < 2 * 2**20  # a few 64 KiB chunks at a time, never the body


def test_unknown_client_is_refused():
    with pytest.raises(ValueError, match="unknown HTTP client"):
        new_client(FetchConfig(client="curl"))


def test_redirects_followed_and_loop_is_too_many_redirects(server, make_fetcher):
    fetcher = make_fetcher()
    assert fetcher.fetch(0, server.url("/r", redirect=3, bytes=500)).bytes == 500
    assert fetcher.fetch(1, server.url("/r", redirect=31)).error == "too_many_redirects"
    assert fetcher.fetch(2, server.url("/r", redirect=30, bytes=5)).bytes == 5


def test_gaps_are_noted_between_requests_of_one_fetcher(server, client):
    from array import array

    gaps = array("d")
    label = RunLabel("serial", 1, 1, 1, time.perf_counter())
    fetcher = Fetcher(FetchConfig(client=client), label, gaps)
    for i in range(5):
        fetcher.fetch(i, server.url(bytes=10))
    assert len(gaps) == 4 and all(g >= 0 for g in gaps)


def test_requests_reads_the_environment_once_per_origin(environment_proxy, monkeypatch):
    """Proxy variables still apply (the embedded server answers as the proxy of an
    unresolvable host), but requests' per-call scan of os.environ is done once
    per origin in a process, however many clients fetch from it."""
    import requests

    reads = []
    original = requests.Session.merge_environment_settings

    def counting(self, *args, **kwargs):
        if self.trust_env:
            reads.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "merge_environment_settings", counting)
    records = []
    for i in range(4):  # a client per URL, as gevent-spawn has: still one read
        fetcher = Fetcher(FetchConfig(client="requests"), RunLabel("serial", 1, 1, 1, 0.0))
        records += [fetcher.fetch(2 * i + k, f"http://fetchbench.invalid/p/{i}?bytes=10")
                    for k in range(2)]
        fetcher.close()
    assert [(r.error, r.bytes) for r in records] == [("", 10)] * 8
    assert reads == ["http://fetchbench.invalid/p/0?bytes=10"]


def test_origin_keys_scheme_and_host():
    from fetchbench.fetch import origin

    assert origin("http://a:80/x?y=/z") == "http://a:80"
    assert origin("https://b/x") == "https://b"
    assert origin("http://c") == "http://c"



def test_environment_ca_bundle_applies_to_https_only(ca_bundle, monkeypatch):
    """REQUESTS_CA_BUNDLE verifies https:// (redirect hops included: it is the
    https adapter's); http:// requests carry no bundle path, which would cost a
    stat and a new pool key per request in requests' adapter."""
    import requests
    from requests.adapters import HTTPAdapter

    from fetchbench import fetch

    session = fetch.new_session(keepalive=True)
    assert "verify" not in fetch.environment_settings(session, "https://example.test/a")
    assert session.trust_env is False  # read with it on, left off
    sent = []
    monkeypatch.setattr(HTTPAdapter, "send", lambda self, request, **kw: sent.append(
        (type(self).__name__, kw["verify"])))
    for url, verify in [("https://example.test/a", True), ("https://example.test/b", False),
                        ("http://example.test/c", True)]:
        prepared = requests.Request("GET", url).prepare()
        session.get_adapter(url).send(prepared, verify=verify)
    assert sent == [("EnvironmentCAAdapter", str(ca_bundle)), ("EnvironmentCAAdapter", False),
                    ("HTTPAdapter", True)]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/item/3?delay=0.1&bytes=10",
    "http://h/", "http://h", "http://h?x=1", "http://h#frag", "http://h/p#f?not-query",
    "https://user:pw@Example.COM:8443/a/b;c?d=e&f=/g#h", "http://[::1]:9000/v6?q",
    "http://h/p?q=a#", "http://h:80/%7Euser/?",
])
def test_split_target_agrees_with_urlsplit(url):
    from urllib.parse import urlsplit

    from fetchbench.fetch import split_target

    parts = urlsplit(url)
    expected_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key, target = split_target(url)
    assert urlsplit(key)[:2] == parts[:2]  # scheme and netloc
    assert target.rstrip("?") == expected_target
