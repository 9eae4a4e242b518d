"""Fetching is safe and polite: address guard, limits, redirects, content types, pacing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from index.feeds import parse_feed
from index.fetch import Fetcher, FetchFailed, HostPacer, as_utf8, normalize_url
from index.load import PARSERS
from index.settings import SourcesSettings
from index.web_guard import is_public
from web_server import Route, WebServer, article_html, atom, rss

LOCAL = SourcesSettings(allow_private_networks=True, host_delay_seconds=0, timeout_seconds=5)


@pytest.fixture
def server() -> Iterator[WebServer]:
    web = WebServer().start()
    yield web
    web.stop()


def _fetcher(settings: SourcesSettings = LOCAL) -> Fetcher:
    return Fetcher(settings, known_suffix=lambda suffix: suffix in PARSERS)


def test_a_page_is_fetched_with_an_honest_user_agent(server: WebServer) -> None:
    server.routes["/a"] = Route(article_html("A", ["Some text."]))
    with _fetcher() as fetcher:
        fetched = fetcher.get(server.url("/a"))
    assert fetched.status == 200 and fetched.suffix == ".html" and b"Some text." in fetched.body
    assert fetched.etag and fetcher.requests == 1
    assert server.log[0].user_agent.startswith("citebot/")


def test_private_addresses_are_refused_by_default(server: WebServer) -> None:
    server.routes["/a"] = Route(article_html("A", ["Some text."]))
    strict = SourcesSettings(host_delay_seconds=0, timeout_seconds=5)
    with _fetcher(strict) as fetcher, pytest.raises(FetchFailed, match="non-public address"):
        fetcher.get(server.url("/a"))
    assert server.log == []  # refused before connecting: the server never saw a request


def test_every_redirect_hop_is_checked(server: WebServer) -> None:
    # A URL that itself passes (a public name would, here the allowance stands in for it) must
    # not reach a private address by redirecting: with the guard on, the hop to 127.0.0.1 is
    # refused even though it came from a redirect, not from the user.
    strict = SourcesSettings(host_delay_seconds=0, timeout_seconds=5)
    server.routes["/hop"] = Route(status=302, location=server.url("/a"))
    with _fetcher(strict) as fetcher, pytest.raises(FetchFailed, match="non-public"):
        fetcher.get(server.url("/hop").replace("127.0.0.1", "localhost"))


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("127.0.0.1", False),
        ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
        ("169.254.169.254", False), ("100.64.0.1", False), ("::1", False),
        ("fd00:ec2::254", False), ("fe80::1", False), ("::ffff:127.0.0.1", False),
        ("0.0.0.0", False), ("224.0.0.1", False), ("100.100.100.200", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_redirects_are_followed_and_loops_stopped(server: WebServer) -> None:
    server.routes["/old"] = Route(status=301, location="/new")
    server.routes["/new"] = Route(article_html("New", ["Moved here."]))
    server.routes["/loop1"] = Route(status=302, location="/loop2")
    server.routes["/loop2"] = Route(status=302, location="/loop1")
    for n in range(10):
        server.routes[f"/chain{n}"] = Route(status=302, location=f"/chain{n + 1}")
    with _fetcher() as fetcher:
        assert fetcher.get(server.url("/old")).final_url == server.url("/new")
        with pytest.raises(FetchFailed, match="redirect loop"):
            fetcher.get(server.url("/loop1"))
        with pytest.raises(FetchFailed, match="more than 5 redirects"):
            fetcher.get(server.url("/chain0"))


def test_errors_and_wrong_content_types_are_reasons(server: WebServer) -> None:
    server.routes["/image"] = Route(b"\x89PNG....", content_type="image/png")
    server.routes["/data"] = Route(b"{}", content_type="application/json")
    server.routes["/broken"] = Route(b"oops", status=500)
    with _fetcher() as fetcher:
        with pytest.raises(FetchFailed, match="HTTP 404"):
            fetcher.get(server.url("/missing"))
        with pytest.raises(FetchFailed, match="HTTP 500"):
            fetcher.get(server.url("/broken"))
        with pytest.raises(FetchFailed, match="unsupported content type 'image/png'"):
            fetcher.get(server.url("/image"))
        with pytest.raises(FetchFailed, match="unsupported content type 'application/json'"):
            fetcher.get(server.url("/data"))


def test_a_generic_content_type_falls_back_to_the_url_suffix(server: WebServer) -> None:
    server.routes["/notes.txt"] = Route(b"Plain notes.", content_type="application/octet-stream")
    server.routes["/blob"] = Route(b"???", content_type="application/octet-stream")
    with _fetcher() as fetcher:
        assert fetcher.get(server.url("/notes.txt")).suffix == ".txt"
        with pytest.raises(FetchFailed, match="unsupported content type"):
            fetcher.get(server.url("/blob"))


def test_slow_responses_time_out(server: WebServer) -> None:
    server.routes["/slow"] = Route(article_html("Slow", ["Late."]), delay=30)
    quick = SourcesSettings(allow_private_networks=True, host_delay_seconds=0, timeout_seconds=0.3)
    with _fetcher(quick) as fetcher, pytest.raises(FetchFailed, match="timed out after 0.3 s"):
        fetcher.get(server.url("/slow"))


def test_a_50_mb_body_is_cut_off_while_streaming(server: WebServer) -> None:
    size = 50 * 1024 * 1024
    server.routes["/huge"] = Route(stream_bytes=size)
    small = SourcesSettings(allow_private_networks=True, host_delay_seconds=0, max_download_mb=1)
    with _fetcher(small) as fetcher:
        with pytest.raises(FetchFailed, match="over the 1 MB limit"):
            fetcher.get(server.url("/huge"))
        # Read no further than the limit (plus a chunk), not the 50 MB sent.
        assert fetcher.bytes_read < 2 * 1024 * 1024


def test_conditional_requests_get_not_modified(server: WebServer) -> None:
    server.routes["/a"] = Route(article_html("A", ["Some text."]))
    with _fetcher() as fetcher:
        first = fetcher.get(server.url("/a"))
        again = fetcher.get(server.url("/a"), etag=first.etag)
    assert again.not_modified and again.body == b""
    assert [entry.status for entry in server.log] == [200, 304]


def test_hosts_are_paced_without_waiting_in_tests() -> None:
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = HostPacer(1.0, clock=lambda: clock[0], sleep=sleep)
    pacer.wait("a.example")
    pacer.wait("b.example")  # another host: no wait
    clock[0] += 0.25
    pacer.wait("a.example")
    assert slept == [pytest.approx(0.75)]


def test_urls_are_normalized_as_ids() -> None:
    assert normalize_url(" HTTPS://Example.ORG/a?b=1#top ") == "https://example.org/a?b=1"
    assert normalize_url("http://example.org") == "http://example.org/"
    for bad in ("ftp://example.org/x", "file:///etc/passwd", "example.org", "javascript:x"):
        with pytest.raises(FetchFailed, match="not an http"):
            normalize_url(bad)


def test_a_declared_charset_is_honoured() -> None:
    body = "café".encode("latin-1")
    assert as_utf8(body, "text/html; charset=ISO-8859-1") == "café".encode()
    assert as_utf8(body, "text/html") == body


def test_rss_and_atom_feeds_are_parsed() -> None:
    feed = parse_feed(
        rss([("http://example.org/1", "One", "Tue, 02 Jan 2024 10:00:00 GMT"),
             ("/2", "Two", "Wed, 03 Jan 2024 10:00:00 GMT")]),
        "http://example.org/feed.xml",
    )
    assert feed.title == "Example RSS"
    assert [(e.link, e.title, e.date) for e in feed.entries] == [
        ("http://example.org/1", "One", "2024-01-02"), ("http://example.org/2", "Two", "2024-01-03")
    ]
    entries = parse_feed(atom([("http://example.org/x", "X", "2024-02-05T08:00:00Z")]),
                         "http://example.org/atom").entries
    assert [(e.link, e.date) for e in entries] == [("http://example.org/x", "2024-02-05")]
    changed = parse_feed(atom([("http://example.org/x", "X", "2024-02-06T08:00:00Z")]),
                         "http://example.org/atom").entries
    assert changed[0].entry_hash != entries[0].entry_hash
    with pytest.raises(FetchFailed, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body>hello</body></html>", "http://example.org/")
