"""Web pages and feeds end to end: add, refresh, change, fail, remove, against a local server."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from index import (
    Embedder,
    FeedSource,
    KnowledgeBaseSettings,
    SourceError,
    SourcesSettings,
    UnknownSource,
    UnsupportedUpload,
    add_upload,
    add_urls,
    build_index,
    open_knowledge_base,
    refresh_sources,
    remove_source,
    source_status,
)
from web_server import Route, WebServer, article_html, atom, rss

pytestmark = pytest.mark.model

LOCAL = SourcesSettings(allow_private_networks=True, host_delay_seconds=0, timeout_seconds=5)


def _paragraphs(topic: str, n: int = 3) -> list[str]:
    return [
        f"The {topic} report, part {i + 1}, describes how the {topic} committee met in the old "
        f"town hall and agreed on a plan that took {i + 3} years to finish, as residents recall."
        for i in range(n)
    ]


@pytest.fixture
def server() -> Iterator[WebServer]:
    web = WebServer().start()
    yield web
    web.stop()


@pytest.fixture
def settings(kb_settings: KnowledgeBaseSettings) -> KnowledgeBaseSettings:
    return dataclasses.replace(kb_settings, sources=LOCAL)


def _with_feeds(settings: KnowledgeBaseSettings, *urls: str) -> KnowledgeBaseSettings:
    feeds = tuple(FeedSource(url) for url in urls)
    return dataclasses.replace(settings, sources=dataclasses.replace(LOCAL, feeds=feeds))


def test_an_added_url_is_indexed_updated_and_kept_by_builds(
    settings: KnowledgeBaseSettings, server: WebServer, embedder: Embedder
) -> None:
    server.routes["/news/harbour"] = Route(
        article_html("Harbour plans", _paragraphs("harbour"), date="2024-06-01",
                     author="Ann Reporter")
    )
    url = server.url("/news/harbour")
    report = add_urls(settings, [url], embedder=embedder)
    (result,) = report.sources
    assert (result.outcome, result.title) == ("added", "Harbour plans")
    assert report.build.added == 4  # the three corpus articles and the page
    hit = open_knowledge_base(settings, embedder).search("harbour committee town hall", 1)[0]
    assert (hit.ref.article_id, hit.ref.title, hit.ref.date) == (url, "Harbour plans", "2024-06-01")

    again = add_urls(settings, [url], embedder=embedder)
    assert again.sources[0].outcome == "unchanged" and again.build.embedded == 0

    changed = _paragraphs("harbour")
    changed[1] = changed[1].replace("old town hall", "new library")
    server.routes["/news/harbour"] = Route(article_html("Harbour plans", changed))
    updated = add_urls(settings, [url], embedder=embedder)
    assert updated.sources[0].outcome == "updated" and updated.build.embedded == 1

    # A plain build reads the stored copy: the page stays, and nothing is fetched.
    requests = len(server.log)
    summary = build_index(settings, embedder=embedder)
    assert summary.articles == 4 and summary.unchanged == 4 and len(server.log) == requests
    (status,) = [s for s in source_status(settings) if s.kind == "url"]
    assert status.source == url and status.refreshed_at and status.updated == 1


def test_feeds_refresh_only_what_changed(
    settings: KnowledgeBaseSettings, server: WebServer, embedder: Embedder
) -> None:
    topics = ["river", "bridge", "market"]
    for topic in topics:
        server.routes[f"/rss/{topic}"] = Route(article_html(topic.title(), _paragraphs(topic)))
    server.routes["/atom/park"] = Route(article_html("Park", _paragraphs("park")))
    dates = ["Tue, 02 Jan 2024 10:00:00 GMT"] * 3
    server.routes["/feed.rss"] = Route(
        rss([(server.url(f"/rss/{t}"), t, d) for t, d in zip(topics, dates, strict=True)]),
        content_type="application/rss+xml",
    )
    server.routes["/feed.atom"] = Route(
        atom([(server.url("/atom/park"), "Park", "2024-02-05T08:00:00Z")]),
        content_type="application/atom+xml",
    )
    settings = _with_feeds(settings, server.url("/feed.rss"), server.url("/feed.atom"))

    first = refresh_sources(settings, embedder=embedder)
    by_source = {r.source: r for r in first.sources}
    assert by_source[server.url("/feed.rss")].added == 3
    assert by_source[server.url("/feed.atom")].added == 1
    assert by_source[server.url("/feed.atom")].title == "Example Atom"
    kb = open_knowledge_base(settings, embedder)
    assert kb.search("bridge committee plan", 1)[0].ref.date == "2024-01-02"

    # Nothing changed: the two feeds answer 304 and no article is requested.
    server.log.clear()
    quiet = refresh_sources(settings, embedder=embedder)
    assert quiet.requests == 2 and [e.status for e in server.log] == [304, 304]
    assert quiet.build.embedded == 0 and quiet.build.unchanged == 7

    # One RSS entry changes (new date, one paragraph rewritten): only its page is fetched and
    # only its changed paragraph is embedded.
    changed = _paragraphs("bridge")
    changed[2] = "The bridge was closed for repairs in the spring after engineers found cracks."
    server.routes["/rss/bridge"] = Route(article_html("Bridge", changed))
    dates[1] = "Fri, 05 Jan 2024 10:00:00 GMT"
    server.routes["/feed.rss"] = Route(
        rss([(server.url(f"/rss/{t}"), t, d) for t, d in zip(topics, dates, strict=True)]),
        content_type="application/rss+xml",
    )
    server.log.clear()
    third = refresh_sources(settings, embedder=embedder)
    assert sorted(e.path for e in server.log) == ["/feed.atom", "/feed.rss", "/rss/bridge"]
    rss_result = {r.source: r for r in third.sources}[server.url("/feed.rss")]
    assert (rss_result.added, rss_result.updated, rss_result.unchanged) == (0, 1, 2)
    assert third.build.embedded == 1 and third.build.updated == 1
    hit = open_knowledge_base(settings, embedder).search("bridge closed for repairs cracks", 1)[0]
    assert hit.ref.article_id == server.url("/rss/bridge") and hit.ref.date == "2024-01-05"


def test_a_failing_source_keeps_what_was_indexed(
    settings: KnowledgeBaseSettings, server: WebServer, embedder: Embedder
) -> None:
    server.routes["/page"] = Route(article_html("Page", _paragraphs("lighthouse")))
    server.routes["/e/ok"] = Route(article_html("Ok", _paragraphs("orchard")))
    server.routes["/feed"] = Route(
        rss([(server.url("/e/ok"), "ok", "Tue, 02 Jan 2024 10:00:00 GMT"),
             (server.url("/e/gone"), "gone", "Tue, 02 Jan 2024 10:00:00 GMT")]),
        content_type="application/rss+xml",
    )
    settings = _with_feeds(settings, server.url("/feed"))
    add_urls(settings, [server.url("/page")], embedder=embedder)
    report = refresh_sources(settings, embedder=embedder)
    feed = {r.source: r for r in report.sources}[server.url("/feed")]
    assert (feed.added, feed.failed) == (1, 1)
    assert feed.failures == ((server.url("/e/gone"), "HTTP 404 Not Found"),)

    # The page breaks and the feed goes down: both are reported, neither loses its articles.
    server.routes["/page"] = Route(b"<html><body></body></html>")
    server.routes["/feed"] = Route(b"down", status=503)
    broken = refresh_sources(settings, embedder=embedder)
    results = {r.source: r for r in broken.sources}
    page = results[server.url("/page")]
    assert page.outcome == "failed" and "indexed copy is kept" in page.reason
    assert results[server.url("/feed")].reason == "HTTP 503 Service Unavailable"
    assert broken.build.articles == 5 and broken.build.removed == 0
    kb = open_knowledge_base(settings, embedder)
    assert kb.search("lighthouse committee", 1)[0].ref.article_id == server.url("/page")


def test_private_addresses_are_refused_without_the_allowance(
    kb_settings: KnowledgeBaseSettings, server: WebServer, embedder: Embedder
) -> None:
    server.routes["/a"] = Route(article_html("A", _paragraphs("castle")))
    report = add_urls(kb_settings, [server.url("/a"), "ftp://example.org/x"], embedder=embedder)
    reasons = [r.reason for r in report.sources]
    assert "non-public address 127.0.0.1" in reasons[1] and "not an http(s) URL" in reasons[0]
    assert server.log == [] and report.build.articles == 3


def test_removing_pages_and_feed_entries(
    settings: KnowledgeBaseSettings, server: WebServer, embedder: Embedder
) -> None:
    server.routes["/a"] = Route(article_html("A", _paragraphs("castle")))
    server.routes["/e/1"] = Route(article_html("One", _paragraphs("garden")))
    server.routes["/feed"] = Route(
        rss([(server.url("/e/1"), "one", "Tue, 02 Jan 2024 10:00:00 GMT")]),
        content_type="application/rss+xml",
    )
    feed_settings = _with_feeds(settings, server.url("/feed"))
    add_urls(feed_settings, [server.url("/a")], embedder=embedder)
    assert refresh_sources(feed_settings, embedder=embedder).build.articles == 5

    assert remove_source(feed_settings, server.url("/a"), embedder=embedder).build.removed == 1
    # A feed entry stays out while its feed still lists it.
    remove_source(feed_settings, server.url("/e/1"), embedder=embedder)
    assert refresh_sources(feed_settings, embedder=embedder).build.articles == 3
    with pytest.raises(SourceError, match="no web page"):
        remove_source(feed_settings, server.url("/a"), embedder=embedder)
    with pytest.raises(SourceError, match="configured feed"):
        remove_source(feed_settings, server.url("/feed"), embedder=embedder)

    # A feed that leaves the config takes its entries with it.
    server.routes["/e/2"] = Route(article_html("Two", _paragraphs("meadow")))
    server.routes["/feed"] = Route(
        rss([(server.url("/e/2"), "two", "Tue, 02 Jan 2024 10:00:00 GMT")]),
        content_type="application/rss+xml",
    )
    assert refresh_sources(feed_settings, embedder=embedder).build.articles == 4
    after = refresh_sources(settings, embedder=embedder)
    assert after.build.articles == 3 and after.build.removed == 1
    assert [s.kind for s in source_status(settings)] == ["folder"]


def test_uploads_are_sources_kept_updated_by_name_and_removed(
    settings: KnowledgeBaseSettings, embedder: Embedder
) -> None:
    report = add_upload(settings, "Harbour notes.md", b"# Harbour notes\n\n" + _markdown("pier"),
                        embedder=embedder)
    (result,) = report.sources
    assert (result.source, result.kind, result.title, result.outcome) == (
        "upload:Harbour notes.md", "upload", "Harbour notes", "added")
    hit = open_knowledge_base(settings, embedder).search("pier committee town hall", 1)[0]
    assert hit.ref.article_id == "upload:Harbour notes.md" and hit.ref.url is None

    # The same name again replaces it; the same bytes change nothing.
    changed = b"# Harbour notes\n\n" + _markdown("jetty")
    assert add_upload(settings, "Harbour notes.md", changed, embedder=embedder
                      ).sources[0].outcome == "updated"
    again = add_upload(settings, "dir/Harbour notes.md", changed, embedder=embedder)
    assert again.sources[0].outcome == "unchanged" and again.build.embedded == 0

    with pytest.raises(UnsupportedUpload, match=r"\.xlsx files; send a PDF, Word"):
        add_upload(settings, "budget.xlsx", b"PK\x03\x04", embedder=embedder)
    with pytest.raises(SourceError, match="empty.txt: "):
        add_upload(settings, "empty.txt", b"   \n", embedder=embedder)

    # A refresh neither refetches nor forgets it; the CLI's listing shows it.
    refreshed = refresh_sources(settings, embedder=embedder)
    assert refreshed.build.articles == 4 and refreshed.requests == 0
    (status,) = [s for s in source_status(settings) if s.kind == "upload"]
    assert (status.source, status.title, status.unchanged) == (
        "upload:Harbour notes.md", "Harbour notes", 1)

    removed = remove_source(settings, "upload:Harbour notes.md", embedder=embedder)
    assert removed.sources[0].kind == "upload" and removed.build.articles == 3
    with pytest.raises(UnknownSource, match="no web page or upload"):
        remove_source(settings, "upload:Harbour notes.md", embedder=embedder)
    assert [s.kind for s in source_status(settings)] == ["folder"]


def _markdown(topic: str) -> bytes:
    return "\n\n".join(_paragraphs(topic)).encode()
