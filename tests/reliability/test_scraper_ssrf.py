"""The scraper cannot be turned against the server's own network, and its responses are capped in size and time.

All traffic stays on 127.0.0.1: a guard below fails any test whose code tries to connect anywhere else.
"""
import socket
import threading
import time

import pytest
import urllib3.util.connection
from werkzeug import Response

from ingestion.scraping import fetch
from ingestion.scraping.fetch import BlockedURL, FetchError, Fetcher


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Safety net: the fetcher may only ever open connections to 127.0.0.1 in these tests."""
    real = urllib3.util.connection.create_connection
    attempts = []

    def guarded(address, *args, **kwargs):
        attempts.append(address)
        if address[0] not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"the fetcher tried to connect to {address}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", guarded)
    monkeypatch.setattr("urllib3.connection.connection.create_connection", guarded, raising=False)
    return attempts


def fetcher(allowed=(), **kwargs):
    options = dict(allowed_hosts=list(allowed), delay=0, timeout=2, retries=0, backoff=0, sleep=lambda s: None)
    options.update(kwargs)
    return Fetcher(**options)


INTERNAL_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.1:6379/",
    "http://localhost:5432/",
    "http://127.1/",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f000001/",
    "http://0.0.0.0:8000/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/admin",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",  # cloud metadata
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://[fd00:ec2::254]/",  # AWS IPv6 metadata
    "http://224.0.0.1/",
    "http://localhost./",
    "http://LOCALHOST/",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_addresses_are_refused_before_connecting(url, loopback_only):
    with fetcher() as client, pytest.raises(BlockedURL):
        client.get(url)
    assert loopback_only == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL", "ftp://10.0.0.1/", "dict://127.0.0.1:11211/", "http:///x"])
def test_other_schemes_are_refused(url, loopback_only):
    with fetcher() as client, pytest.raises(BlockedURL):
        client.get(url)
    assert loopback_only == []


@pytest.fixture
def site(httpserver):
    """A test server on 127.0.0.1, reachable only under the host name 'localhost' (the one allowed host)."""
    return httpserver


REDIRECT_TARGETS = [
    "http://127.0.0.1:{port}/secret",
    "http://[::1]:{port}/secret",
    "http://169.254.169.254/latest/meta-data/",
    "//10.0.0.1/secret",  # scheme-relative
    "http://2130706433:{port}/secret",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("target", REDIRECT_TARGETS)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_to_internal_addresses_are_refused(site, target, status):
    location = target.format(port=site.port)
    site.expect_request("/start").respond_with_response(Response(status=status, headers={"Location": location}))
    site.expect_request("/secret").respond_with_data("internal secret")
    with fetcher(allowed=["localhost"]) as client, pytest.raises(BlockedURL):
        client.get(f"http://localhost:{site.port}/start")
    requested = [request.path for request, _ in site.log]
    assert requested == ["/start"], requested


def test_a_later_redirect_hop_to_an_internal_address_is_refused(site):
    site.expect_request("/a").respond_with_response(Response(status=302, headers={"Location": "/b"}))
    site.expect_request("/b").respond_with_response(Response(status=302, headers={"Location": f"http://127.0.0.1:{site.port}/secret"}))
    site.expect_request("/secret").respond_with_data("internal secret")
    with fetcher(allowed=["localhost"]) as client, pytest.raises(BlockedURL):
        client.get(f"http://localhost:{site.port}/a")
    assert [request.path for request, _ in site.log] == ["/a", "/b"]


def test_redirect_loops_are_capped(site):
    site.expect_request("/loop").respond_with_response(Response(status=302, headers={"Location": "/loop"}))
    with fetcher(allowed=["localhost"], max_redirects=3) as client, pytest.raises(FetchError, match="Too many redirects"):
        client.get(f"http://localhost:{site.port}/loop")
    assert len(site.log) == 4


def test_dns_rebinding_cannot_reach_an_internal_address(monkeypatch, loopback_only):
    """The name resolves to a public address when checked and to loopback when connecting: the connection
    is pinned to the checked address or refused, never made to loopback."""
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1", "127.0.0.1"])

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.example":
            raise socket.gaierror("unknown host")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(fetch.socket, "getaddrinfo", fake_getaddrinfo)
    with fetcher() as client, pytest.raises(FetchError):
        client.get("http://rebind.example:9/")
    assert all(address[0] not in ("127.0.0.1", "localhost") for address in loopback_only)


def test_a_host_that_resolves_to_both_public_and_private_addresses_is_refused(monkeypatch, loopback_only):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(fetch.socket, "getaddrinfo", fake_getaddrinfo)
    with fetcher() as client, pytest.raises(BlockedURL):
        client.get("http://mixed.example/")
    assert loopback_only == []


def test_environment_proxies_are_ignored(monkeypatch, site):
    monkeypatch.setenv("HTTP_PROXY", "http://169.254.169.254:80")
    monkeypatch.setenv("http_proxy", "http://169.254.169.254:80")
    site.expect_request("/ok").respond_with_data("fine")
    with fetcher(allowed=["localhost"]) as client:
        assert client.get(f"http://localhost:{site.port}/ok").content == b"fine"


# --- size and time caps -------------------------------------------------------------------------------------------

def test_a_declared_oversized_body_is_refused(site):
    site.expect_request("/big").respond_with_data(b"x" * 300_000)
    with fetcher(allowed=["localhost"], max_bytes=100_000) as client, pytest.raises(FetchError, match="limit"):
        client.get(f"http://localhost:{site.port}/big")


def test_an_undeclared_oversized_body_is_cut_off(site):
    def endless():
        for _ in range(10_000):
            yield b"y" * 65536  # 655 MB if read whole

    site.expect_request("/stream").respond_with_response(Response(endless(), mimetype="image/jpeg"))
    started = time.monotonic()
    with fetcher(allowed=["localhost"], max_bytes=200_000) as client, pytest.raises(FetchError, match="limit"):
        client.get(f"http://localhost:{site.port}/stream")
    assert time.monotonic() - started < 10


class SlowServer:
    """A raw HTTP server on 127.0.0.1 that can stall before answering or drip its body a byte at a time."""

    def __init__(self, mode, interval=0.05, length=200_000):
        self.mode, self.interval, self.length = mode, interval, length
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            conn.recv(65536)
            if self.mode == "stall":
                self.stop.wait(30)
                return
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {self.length}\r\n\r\n".encode())
            for _ in range(self.length):
                if self.stop.wait(self.interval):
                    return
                conn.sendall(b"z")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.mark.parametrize("mode", ["stall", "drip"])
def test_slow_servers_are_cut_off_in_bounded_time(mode):
    """A server that never answers, or drips its body a byte every 50 ms (never idle long enough for a socket
    timeout), must not hold the scraper for longer than about its timeout."""
    server = SlowServer(mode)
    outcome = {}

    def run():
        started = time.monotonic()
        try:
            with fetcher(allowed=["localhost"], timeout=1.0) as client:
                client.get(f"http://localhost:{server.port}/photo.jpg")
            outcome["result"] = "completed"
        except FetchError as exc:
            outcome["result"] = str(exc)
        outcome["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=8)
    server.close()
    assert not worker.is_alive(), f"{mode}: the fetch was still running after 8 s with a 1 s timeout"
    assert outcome["seconds"] < 6, outcome
    assert outcome["result"] != "completed"
