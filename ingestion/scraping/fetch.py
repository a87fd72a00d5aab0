"""Polite, SSRF-safe HTTP GET for the scraper.

Only http(s) to public addresses: every URL, and every redirect hop (redirects are followed by hand),
is resolved and refused if any address is loopback, private, link-local (cloud metadata),
multicast, reserved or otherwise not global, unless its host is in PETSITE_SCRAPE_ALLOWED_HOSTS.
The connection itself is then pinned to the checked address, so a DNS answer that changes between
the check and the connect (DNS rebinding) cannot reach an internal host either.
Requests carry a real User-Agent, are spaced by a delay, time out, are retried a bounded number of
times with exponential backoff, and bodies are capped in size.
"""
import ipaddress
import re
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

RETRYABLE_STATUSES = {429, 500, 502, 503, 504}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
CHUNK_BYTES = 64 * 1024


class FetchError(Exception):
    """A request that did not produce a usable response; str() is a readable reason."""

    def __init__(self, message, *, retryable=False, status=None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class BlockedURL(FetchError):
    """A URL the guard refuses: not http(s), or its host resolves to a non-public address."""


NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address):
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if ip.version == 6:
        # IPv6 forms that carry an IPv4 address (mapped, 6to4, NAT64) are judged by that address.
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in NAT64_PREFIX:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # is_global is False for loopback, RFC 1918, link-local (169.254.169.254 metadata), CGNAT, ULA, reserved...
    return ip.is_global and not ip.is_multicast


def _normalise_host(host):
    return (host or "").strip("[]").rstrip(".").lower()


def resolve_public(host, port):
    """Addresses of `host`, all checked public; raises BlockedURL."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"Could not resolve the host {host}.", retryable=True) from exc
    addresses = [info[4][0] for info in infos]
    blocked = [address for address in addresses if not is_public_address(address)]
    if blocked or not addresses:
        raise BlockedURL(
            f"Refused {host}: it resolves to a non-public address ({', '.join(sorted(set(blocked)))}); "
            "add the host to PETSITE_SCRAPE_ALLOWED_HOSTS to allow it."
        )
    return addresses


def obviously_blocked(url, allowed_hosts):
    """The refusal check_url would give `url` when that is plain without resolving a name (an IP address or
    localhost that is not public, not allowed), else "": a form can say it at once, with no DNS lookup."""
    try:
        host = _normalise_host(urlsplit(url).hostname)
    except ValueError:
        return ""
    if not host or host in allowed_hosts:
        return ""
    try:
        public = is_public_address(host)
    except ValueError:  # a name, not an address
        public = host not in ("localhost", "localhost.localdomain") and not host.endswith(".localhost")
    return "" if public else f"Refused {host}: it is a non-public address; add the host to PETSITE_SCRAPE_ALLOWED_HOSTS to allow it."


def check_url(url, allowed_hosts):
    """Refuse anything but http(s) to a public (or explicitly allowed) host. Returns the host."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise BlockedURL(f"Refused a malformed URL: {url[:200]}") from exc
    if parts.scheme not in ("http", "https"):
        raise BlockedURL(f"Refused {url[:200]}: only http and https URLs are fetched.")
    host = _normalise_host(parts.hostname)
    if not host:
        raise BlockedURL(f"Refused {url[:200]}: no host.")
    if host not in allowed_hosts:
        resolve_public(host, port)
    return host


def _guarded(connection_class, allowed_hosts):
    """A urllib3 connection class that connects only to a checked public address of its host."""

    class GuardedConnection(connection_class):
        def _new_conn(self):
            host = _normalise_host(self._dns_host)
            if host not in allowed_hosts:
                # Connect to the address just checked, not to whatever a second lookup returns.
                self._dns_host = resolve_public(host, self.port)[0]
            return super()._new_conn()

    return GuardedConnection


class GuardedAdapter(HTTPAdapter):
    def __init__(self, allowed_hosts, **kwargs):
        self.allowed_hosts = allowed_hosts
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        http_pool = type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": _guarded(HTTPConnection, self.allowed_hosts)})
        https_pool = type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": _guarded(HTTPSConnection, self.allowed_hosts)})
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}


@dataclass
class FetchResult:
    url: str  # after redirects
    status: int
    content: bytes
    content_type: str = ""
    redirects: list = field(default_factory=list)


def _connection_reason(exc):
    """'Connection refused' rather than urllib3's nested repr."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    if "Failed to establish" in text:
        return "connection failed"
    return type(exc).__name__


class Fetcher:
    """One scraper's HTTP client. Defaults come from the PETSITE_SCRAPE_* settings."""

    def __init__(self, *, allowed_hosts=None, delay=None, timeout=None, retries=None, backoff=None,
                 max_bytes=None, max_redirects=None, user_agent=None, sleep=time.sleep):
        hosts = settings.PETSITE_SCRAPE_ALLOWED_HOSTS if allowed_hosts is None else allowed_hosts
        self.allowed_hosts = frozenset(_normalise_host(host) for host in hosts)
        self.delay = settings.PETSITE_SCRAPE_DELAY_SECONDS if delay is None else delay
        self.timeout = settings.PETSITE_SCRAPE_TIMEOUT_SECONDS if timeout is None else timeout
        self.retries = settings.PETSITE_SCRAPE_RETRIES if retries is None else retries
        self.backoff = settings.PETSITE_SCRAPE_BACKOFF_SECONDS if backoff is None else backoff
        self.max_bytes = settings.PETSITE_SCRAPE_MAX_BYTES if max_bytes is None else max_bytes
        self.max_redirects = settings.PETSITE_SCRAPE_MAX_REDIRECTS if max_redirects is None else max_redirects
        self.sleep = sleep
        self._last_request = None
        self.session = requests.Session()
        # No proxies from the environment: the address guard must see the real peer.
        self.session.trust_env = False
        self.session.headers["User-Agent"] = user_agent or settings.PETSITE_SCRAPE_USER_AGENT
        self.session.headers["Accept-Language"] = "en"
        adapter = GuardedAdapter(self.allowed_hosts, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get(self, url, accept="*/*"):
        """GET `url` following redirects safely; retries transient failures. Raises FetchError."""
        for attempt in range(self.retries + 1):
            try:
                return self._get_once(url, accept)
            except FetchError as exc:
                if not exc.retryable or attempt == self.retries:
                    raise
                self.sleep(self.backoff * (2**attempt))
        raise AssertionError("unreachable")

    def _wait_politely(self):
        if self._last_request is not None and self.delay > 0:
            remaining = self._last_request + self.delay - time.monotonic()
            if remaining > 0:
                self.sleep(remaining)
        self._last_request = time.monotonic()

    def _get_once(self, url, accept):
        current, hops = url, []
        for _ in range(self.max_redirects + 1):
            host = check_url(current, self.allowed_hosts)
            self._wait_politely()
            try:
                response = self.session.get(
                    current, allow_redirects=False, stream=True, timeout=self.timeout, headers={"Accept": accept}
                )
            except requests.Timeout as exc:
                raise FetchError(f"{host} did not answer within {self.timeout:g} s.", retryable=True) from exc
            except requests.ConnectionError as exc:
                raise FetchError(f"Could not connect to {host}: {_connection_reason(exc)}.", retryable=True) from exc
            except requests.RequestException as exc:
                raise FetchError(f"Request to {host} failed: {exc}") from exc
            with response:
                if response.status_code in REDIRECT_STATUSES and response.headers.get("Location"):
                    hops.append(current)
                    current = urljoin(current, response.headers["Location"])
                    continue
                if response.status_code >= 400:
                    raise FetchError(
                        f"{host} answered {response.status_code} {response.reason or ''}".strip() + f" for {current[:200]}",
                        retryable=response.status_code in RETRYABLE_STATUSES,
                        status=response.status_code,
                    )
                content = self._read_capped(response, host)
                return FetchResult(current, response.status_code, content, response.headers.get("Content-Type", ""), hops)
        raise FetchError(f"Too many redirects from {url[:200]}.")

    def _read_capped(self, response, host):
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(f"{host} sent {int(declared):,} bytes; the limit is {self.max_bytes:,}.")
        deadline = time.monotonic() + self.timeout
        chunks, total = [], 0
        try:
            while True:
                # read1 returns whatever one socket read brings, so a server dripping bytes slowly
                # still meets the deadline check (a fixed-size read would wait for the whole chunk).
                chunk = response.raw.read1(CHUNK_BYTES, decode_content=True)
                if not chunk:
                    break
                total += len(chunk)
                if total > self.max_bytes:
                    raise FetchError(f"{host} sent more than the limit of {self.max_bytes:,} bytes.")
                if time.monotonic() > deadline:
                    raise FetchError(f"{host} was too slow sending the body (over {self.timeout:g} s).", retryable=True)
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise FetchError(f"The download from {host} broke off: {_connection_reason(exc)}.", retryable=True) from exc
        return b"".join(chunks)
