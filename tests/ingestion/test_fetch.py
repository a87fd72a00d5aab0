"""The polite side of the fetcher: User-Agent, delay between requests, bounded retries with backoff."""
import pytest
from werkzeug import Response

from ingestion.scraping.fetch import BlockedURL, FetchError, Fetcher, check_url, is_public_address


class Clock:
    def __init__(self):
        self.sleeps = []

    def __call__(self, seconds):
        self.sleeps.append(round(seconds, 1))


def test_user_agent_and_delay_between_requests(httpserver):
    httpserver.expect_request("/a").respond_with_data("a")
    clock = Clock()
    with Fetcher(allowed_hosts=["localhost"], delay=30, retries=0, sleep=clock, user_agent="petsite-test/1.0") as fetcher:
        fetcher.get(httpserver.url_for("/a"))
        fetcher.get(httpserver.url_for("/a"))
    assert len(clock.sleeps) == 1 and 29 <= clock.sleeps[0] <= 30  # the second request waited out the delay
    assert [request.headers["User-Agent"] for request, _ in httpserver.log] == ["petsite-test/1.0"] * 2


def test_transient_errors_are_retried_with_exponential_backoff(httpserver):
    answers = iter([503, 502, 200])
    httpserver.expect_request("/flaky").respond_with_handler(lambda request: Response("ok", status=next(answers)))
    clock = Clock()
    with Fetcher(allowed_hosts=["localhost"], delay=0, retries=2, backoff=1.5, sleep=clock) as fetcher:
        assert fetcher.get(httpserver.url_for("/flaky")).content == b"ok"
    assert clock.sleeps == [1.5, 3.0]


def test_retries_are_bounded_and_permanent_errors_not_retried(httpserver):
    httpserver.expect_request("/down").respond_with_data("no", status=500)
    httpserver.expect_request("/gone").respond_with_data("no", status=404)
    with Fetcher(allowed_hosts=["localhost"], delay=0, retries=2, backoff=0, sleep=lambda s: None) as fetcher:
        with pytest.raises(FetchError, match="500") as down:
            fetcher.get(httpserver.url_for("/down"))
        with pytest.raises(FetchError, match="404") as gone:
            fetcher.get(httpserver.url_for("/gone"))
    assert (down.value.status, gone.value.status) == (500, 404)
    assert [request.path for request, _ in httpserver.log] == ["/down"] * 3 + ["/gone"]


def test_address_checks():
    assert is_public_address("93.184.216.34") and is_public_address("2606:2800:220:1:248:1893:25c8:1946")
    assert is_public_address("64:ff9b::5db8:d822")  # NAT64 of a public address stays allowed
    wrapped = ("64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2002:c0a8:1::1")  # NAT64 / 6to4 forms of internal IPv4
    for address in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1", "::ffff:192.168.0.1", "100.64.0.1", *wrapped):
        assert not is_public_address(address), address
    assert check_url("http://93.184.216.34/photo.jpg", frozenset()) == "93.184.216.34"
    assert check_url("http://LocalHost./x", frozenset({"localhost"})) == "localhost"
    with pytest.raises(BlockedURL, match="non-public"):
        check_url("http://169.254.169.254/latest/meta-data/", frozenset())


@pytest.mark.parametrize("url, refused", [
    ("https://www.flickr.com/search/", False), ("http://93.184.216.34/", False), ("http://10.0.0.7/", True),
    ("http://localhost:8000/", True), ("http://[::1]/", True), ("http://169.254.169.254/latest/", True),
    ("http://127.0.0.1:9999/", False),  # allowed on purpose below
])
def test_what_the_guard_refuses_for_sure_is_known_without_a_lookup(url, refused):
    from ingestion.scraping.fetch import obviously_blocked

    assert bool(obviously_blocked(url, allowed_hosts=["127.0.0.1"])) is refused
