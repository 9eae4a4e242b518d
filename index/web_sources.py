"""Web sources of an index: add pages by URL, follow feeds, refresh everything, report.

A refresh fetches what may have changed (``index.web_refresh``), then runs the ordinary
incremental build, which reads folders and the stored web pages alike and embeds only new text.
Each source gets a ``SourceResult``; the latest one is kept for ``source_status``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from index.errors import CitebotError, SourceError, UnknownSource
from index.fetch import Fetcher, FetchFailed, normalize_url
from index.load import BINARY_PARSERS, PARSERS, load_file
from index.models import BuildSummary, Document, SkippedFile
from index.settings import KnowledgeBaseSettings
from index.web_models import (
    FEED,
    FOLDER,
    UPLOAD,
    URL,
    RefreshReport,
    SourceResult,
    SourceStatus,
)
from index.web_refresh import FeedFetch, PageFetch, now, refresh_feed, refresh_urls
from index.web_registry import ADDED, KEPT, UPLOADED, Registry, sources_lock

if TYPE_CHECKING:
    from index.embed import Embedder

log = logging.getLogger(__name__)


def open_fetcher(settings: KnowledgeBaseSettings) -> Fetcher:
    """A fetcher with the configured limits, routing content types to the loaders there are."""
    # PDF and Word are read as bytes: their loaders are in BINARY_PARSERS, not PARSERS.
    return Fetcher(
        settings.sources,
        known_suffix=lambda suffix: suffix in PARSERS or suffix in BINARY_PARSERS,
    )


def _feed_urls(settings: KnowledgeBaseSettings) -> list[str]:
    urls = []
    for feed in settings.sources.feeds:
        try:
            urls.append(normalize_url(feed.url))
        except FetchFailed:
            urls.append(feed.url)  # reported as failed by the refresh
    return list(dict.fromkeys(urls))


def web_documents(
    root: Path, settings: KnowledgeBaseSettings
) -> tuple[list[Document], list[SkippedFile]]:
    """The stored copies of the index's web pages and uploads as documents (the URL or the
    upload's id is the article id)."""
    if not Registry.exists(root):
        return [], []
    active = set(_feed_urls(settings))
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    with sources_lock(root), Registry(root) as registry:
        for page in registry.pages():
            if page.excluded or page.body_file is None:
                continue
            if page.origin not in KEPT and page.origin not in active:
                continue  # its feed left the config
            loaded, problems = load_file(
                registry.body_path(page.body_file), page.url,
                max_file_mb=settings.index.max_file_mb,
            )
            skipped.extend(SkippedFile(page.url, p.reason) for p in problems)
            for doc in loaded[:1]:
                # An upload's id is no address: it links only where its own text names one.
                url = doc.url if page.origin == UPLOADED else doc.url or page.final_url or page.url
                documents.append(dataclasses.replace(
                    doc, article_id=page.url, source=page.url, url=url,
                    date=page.feed_date or doc.date,
                ))
    return documents, skipped


@contextlib.contextmanager
def _fetching(settings: KnowledgeBaseSettings, fetcher: Fetcher | None) -> Iterator[Fetcher]:
    if fetcher is not None:
        yield fetcher
        return
    with open_fetcher(settings) as own:
        yield own


def _forget_dropped(registry: Registry, active: set[str]) -> None:
    """Forget pages and records of feeds that left the config (their articles go too)."""
    for page in registry.pages():
        if page.origin not in KEPT and page.origin not in active:
            registry.delete_page(page.url)
            registry.forget_record(page.url)
    for source, status in registry.statuses().items():
        if status.kind == FEED and source not in active:
            registry.forget_record(source)


def refresh_sources(
    settings: KnowledgeBaseSettings,
    *,
    fetcher: Fetcher | None = None,
    embedder: Embedder | None = None,
) -> RefreshReport:
    """Refresh every source: feeds and added URLs are fetched if changed, folders rebuilt."""
    root = Path(settings.index.path)
    root.mkdir(parents=True, exist_ok=True)
    feeds = _feed_urls(settings)
    started = time.monotonic()
    with sources_lock(root), Registry(root) as registry, _fetching(settings, fetcher) as f:
        _forget_dropped(registry, set(feeds))
        added = [p.url for p in registry.pages() if p.origin == ADDED and not p.excluded]
        before = f.requests
        pages = refresh_urls(f, registry, added, max_file_mb=settings.index.max_file_mb)
        fetched_feeds = []
        for url in feeds:
            if not url.startswith(("http://", "https://")):
                fetched_feeds.append(FeedFetch(url, "", failed=f"not an http(s) URL: {url!r}"))
                continue
            fetched_feeds.append(refresh_feed(
                f, registry, url, feeds, max_file_mb=settings.index.max_file_mb
            ))
        registry.collect_garbage()
        requests = f.requests - before
        titles = {p.url: p.title or "" for p in registry.pages()}
    fetch_seconds = time.monotonic() - started
    build = _build(settings, embedder, root, [*(p.url for p in pages), *feeds])
    results = [
        *(_folder_result(folder, build) for folder in settings.index.sources),
        *(_page_result(p, build, titles) for p in pages),
        *(_feed_result(feed, build) for feed in fetched_feeds),
    ]
    _record(root, results)
    return RefreshReport(tuple(results), build, requests, round(fetch_seconds, 3))


def add_urls(
    settings: KnowledgeBaseSettings,
    urls: Sequence[str],
    *,
    fetcher: Fetcher | None = None,
    embedder: Embedder | None = None,
) -> RefreshReport:
    """Fetch and index pages by URL (the URL is the article id: adding it again updates it)."""
    root = Path(settings.index.path)
    root.mkdir(parents=True, exist_ok=True)
    invalid: list[PageFetch] = []
    valid: list[str] = []
    for url in urls:
        try:
            valid.append(normalize_url(url))
        except FetchFailed as exc:
            invalid.append(PageFetch(url, failed=str(exc)))
    started = time.monotonic()
    with sources_lock(root), Registry(root) as registry, _fetching(settings, fetcher) as f:
        before = f.requests
        # Fetched unconditionally: adding a page again is asking for its current text.
        pages = refresh_urls(f, registry, list(dict.fromkeys(valid)),
                             max_file_mb=settings.index.max_file_mb, force=True)
        registry.collect_garbage()
        requests = f.requests - before
        titles = {p.url: p.title or "" for p in registry.pages()}
    fetch_seconds = time.monotonic() - started
    build = _build(settings, embedder, root, [p.url for p in pages])
    results = [_page_result(p, build, titles) for p in (*invalid, *pages)]
    _record(root, [r for r in results if r.source in titles])
    return RefreshReport(tuple(results), build, requests, round(fetch_seconds, 3))


def remove_source(
    settings: KnowledgeBaseSettings, article_id: str, *, embedder: Embedder | None = None
) -> RefreshReport:
    """Remove a web page or an upload from the index; a feed's entry stays out while the feed
    lists it. ``UnknownSource`` when no such page or upload is indexed."""
    root = Path(settings.index.path)
    feeds = _feed_urls(settings)
    try:
        url = normalize_url(article_id)
    except FetchFailed:
        url = article_id
    if url in feeds:
        raise SourceError(
            f"{url} is a configured feed: remove its [[sources.feeds]] table from the config, "
            "then run `citebot index refresh`"
        )
    page = None
    if Registry.exists(root):
        with sources_lock(root), Registry(root) as registry:
            page = registry.page(url)
            if page is not None and not page.excluded:
                if page.origin in KEPT or page.origin not in feeds:
                    registry.delete_page(url)
                else:
                    # Still listed by its feed: remembered as removed so refreshes skip it.
                    registry.save_page(dataclasses.replace(
                        page, excluded=True, body_file=None, etag=None, last_modified=None,
                        entry_hash=None,
                    ))
                registry.forget_record(url)
                registry.collect_garbage()
    if page is None or page.excluded:
        raise UnknownSource(
            f"no web page or upload {article_id!r} in the index (`citebot index sources` lists "
            "them; an article from a folder goes when its file is deleted)"
        )
    build = _build(settings, embedder, root, [url])
    kind = UPLOAD if page.origin == UPLOADED else URL
    result = SourceResult(url, kind, page.title or "", removed=1)
    return RefreshReport((result,), build)


def _build(
    settings: KnowledgeBaseSettings, embedder: Embedder | None, root: Path, sources: list[str]
) -> BuildSummary:
    from index.build import build_index

    try:
        return build_index(settings, embedder=embedder)
    except CitebotError as exc:
        # The fetched copies are kept; the next build or refresh indexes them.
        reason = f"index build failed: {exc.one_line()}"
        _record(root, [SourceResult(s, URL, failed=1, reason=reason) for s in sources])
        raise


def _record(root: Path, results: Sequence[SourceResult]) -> None:
    with sources_lock(root), Registry(root) as registry:
        registry.record(results, now())


def _skipped_reason(build: BuildSummary, url: str) -> str:
    for item in build.skipped:
        if item.path == url:
            return item.reason
    return "not indexed"


def _count(page: PageFetch, build: BuildSummary, statuses: dict[str, str]) -> tuple[str, str]:
    """(status, reason) of one page after the build."""
    if page.failed:
        kept = " (the indexed copy is kept)" if page.url in statuses else ""
        return "failed", page.failed + kept
    status = statuses.get(page.url)
    if status is None:
        return "failed", _skipped_reason(build, page.url)
    return status, ""


def _statuses(build: BuildSummary) -> dict[str, str]:
    return {article_id: status for article_id, _source, status in build.changes}


def _page_result(page: PageFetch, build: BuildSummary, titles: dict[str, str]) -> SourceResult:
    status, reason = _count(page, build, _statuses(build))
    counts = {status: 1}
    return SourceResult(
        page.url, URL, titles.get(page.url, ""), reason=reason,
        failures=((page.url, reason),) if status == "failed" else (), **counts,
    )


def _feed_result(feed: FeedFetch, build: BuildSummary) -> SourceResult:
    if feed.failed:
        return SourceResult(feed.url, FEED, feed.title, failed=1, reason=feed.failed,
                            failures=((feed.url, feed.failed),))
    statuses = _statuses(build)
    counts = {"added": 0, "updated": 0, "unchanged": 0, "failed": 0}
    failures = []
    for page in feed.pages:
        status, reason = _count(page, build, statuses)
        counts[status] += 1
        if reason:
            failures.append((page.url, reason))
    first = failures[0][1] if failures else ""
    return SourceResult(feed.url, FEED, feed.title, reason=first, failures=tuple(failures),
                        **counts)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _folder_result(folder: str, build: BuildSummary) -> SourceResult:
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    for _article_id, source, status in build.changes:
        if _under(source, folder):
            counts[status] += 1
    failures = tuple((s.path, s.reason) for s in build.skipped if _under(s.path, folder))
    return SourceResult(
        folder, FOLDER, added=counts["added"], updated=counts["updated"],
        unchanged=counts["unchanged"], failed=len(failures),
        reason=failures[0][1] if failures else "", failures=failures,
    )


def source_status(settings: KnowledgeBaseSettings) -> tuple[SourceStatus, ...]:
    """Every source of the index (folders, feeds, added URLs, uploads) with its latest refresh."""
    root = Path(settings.index.path)
    records: dict[str, SourceStatus] = {}
    pages: list[tuple[str, str, str | None]] = []
    if Registry.exists(root):
        with Registry(root) as registry:
            records = registry.statuses()
            pages = [(p.url, UPLOAD if p.origin == UPLOADED else URL, p.title)
                     for p in registry.pages() if p.origin in KEPT and not p.excluded]

    def status(source: str, kind: str, title: str | None = None) -> SourceStatus:
        found = records.get(source)
        if found is None:
            return SourceStatus(source, kind, title)
        return dataclasses.replace(found, kind=kind, title=found.title or title)

    return (
        *(status(folder, FOLDER) for folder in settings.index.sources),
        *(status(url, FEED) for url in _feed_urls(settings)),
        *(status(url, kind, title) for url, kind, title in pages),
    )
