"""The fetch half of a refresh: bring the registry's pages and feeds up to date.

Only what may have changed is requested: a feed conditionally (ETag/Last-Modified), an entry's
page only when the feed says something new about it (its entry hash changed) or it never
succeeded, an added URL conditionally. A body is kept only once a loader finds an article in it,
so a page that breaks keeps its last good copy.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from index.feeds import FeedEntry, parse_feed
from index.fetch import Fetched, Fetcher, FetchFailed
from index.load import load_file
from index.web_registry import ADDED, FeedState, PageRecord, Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageFetch:
    """The fetch outcome of one page: fine (a new copy or still current) or failed."""

    url: str
    failed: str = ""


@dataclass(frozen=True)
class FeedFetch:
    """The fetch outcome of one feed: its title, its pages, or why the feed itself failed."""

    url: str
    title: str
    pages: tuple[PageFetch, ...] = ()
    failed: str = ""


def now() -> str:
    """The current UTC time as ISO 8601, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _author(fetched: Fetched) -> str | None:
    if fetched.suffix != ".html":
        return None
    try:
        import trafilatura

        meta = trafilatura.extract_metadata(fetched.body.decode("utf-8", "replace"))
    except Exception:  # metadata is a nicety: a page trafilatura chokes on still indexes
        log.debug("no metadata from %s", fetched.final_url, exc_info=True)
        return None
    author = getattr(meta, "author", None) if meta is not None else None
    return str(author).strip() or None if author else None


def _keep(
    registry: Registry, record: PageRecord, fetched: Fetched, max_file_mb: float
) -> PageRecord:
    """Store a fetched body once a loader finds an article in it; the updated record."""
    name = registry.store_body(fetched.body, fetched.suffix)
    documents, skipped = load_file(registry.body_path(name), record.url, max_file_mb=max_file_mb)
    if not documents:
        reason = skipped[0].reason if skipped else "no article found"
        raise FetchFailed(reason)
    title = documents[0].title
    return replace(
        record, body_file=name, content_type=fetched.content_type, final_url=fetched.final_url,
        etag=fetched.etag, last_modified=fetched.last_modified, title=title,
        author=_author(fetched), fetched_at=now(), checked_at=now(),
    )


def fetch_page(
    fetcher: Fetcher, registry: Registry, record: PageRecord, *, max_file_mb: float,
    force: bool = False,
) -> PageRecord:
    """Fetch one page (conditionally unless ``force``), store it; ``FetchFailed`` with a reason.

    On failure the registry is left as it was: the last good copy stays indexed.
    """
    have_copy = record.body_file is not None and registry.body_path(record.body_file).exists()
    conditional = have_copy and not force
    fetched = fetcher.get(
        record.url,
        record.etag if conditional else None,
        record.last_modified if conditional else None,
    )
    if fetched.not_modified:
        updated = replace(record, checked_at=now(),
                          etag=fetched.etag or record.etag,
                          last_modified=fetched.last_modified or record.last_modified)
    else:
        updated = _keep(registry, record, fetched, max_file_mb)
    registry.save_page(updated)
    return updated


def refresh_urls(
    fetcher: Fetcher, registry: Registry, urls: Collection[str], *, max_file_mb: float,
    force: bool = False,
) -> list[PageFetch]:
    """Fetch pages added by URL; new ones are registered once they succeed."""
    results = []
    for url in urls:
        record = registry.page(url)
        if record is None or record.excluded:
            record = PageRecord(url=url, origin=ADDED)
        elif record.origin != ADDED:
            record = replace(record, origin=ADDED)  # added by hand: it stays after its feed
        try:
            fetch_page(fetcher, registry, record, max_file_mb=max_file_mb, force=force)
            results.append(PageFetch(url))
        except FetchFailed as exc:
            results.append(PageFetch(url, failed=str(exc)))
    return results


def _feed_entries(
    fetcher: Fetcher, registry: Registry, url: str
) -> tuple[str, tuple[FeedEntry, ...]]:
    """The feed's title and entries: fetched if changed, else as last stored."""
    state = registry.feed(url)
    fetched = fetcher.get(
        url, state.etag if state else None, state.last_modified if state else None, feed=True
    )
    stored = registry.feed_entries(url)
    if fetched.not_modified and state is not None:
        return state.title or "", stored
    body_hash = hashlib.sha256(fetched.body).hexdigest()
    if state is not None and state.body_hash == body_hash:
        title, entries = state.title or "", stored
    else:
        feed = parse_feed(fetched.body, fetched.final_url)
        title, entries = feed.title, feed.entries
    registry.save_feed(
        FeedState(url, title, fetched.etag, fetched.last_modified, body_hash), entries
    )
    return title, entries


def refresh_feed(
    fetcher: Fetcher, registry: Registry, url: str, active: Collection[str], *,
    max_file_mb: float,
) -> FeedFetch:
    """Read a feed and fetch the pages of its new and changed entries."""
    state = registry.feed(url)
    try:
        title, entries = _feed_entries(fetcher, registry, url)
    except FetchFailed as exc:
        return FeedFetch(url, (state.title or "") if state else "", failed=str(exc))
    pages = []
    for entry in entries:
        record = registry.page(entry.link)
        if record is not None and (record.excluded or record.origin == ADDED):
            continue  # removed by hand, or refreshed as an added URL
        if record is not None and record.origin != url and record.origin in active:
            continue  # another configured feed owns it
        if record is None:
            record = PageRecord(url=entry.link, origin=url)
        current = record.body_file is not None and registry.body_path(record.body_file).exists()
        if current and record.entry_hash == entry.entry_hash and record.origin == url:
            pages.append(PageFetch(entry.link))  # the feed says nothing new: no request
            continue
        record = replace(record, origin=url, feed_date=entry.date)
        try:
            updated = fetch_page(fetcher, registry, record, max_file_mb=max_file_mb)
        except FetchFailed as exc:
            pages.append(PageFetch(entry.link, failed=str(exc)))
            continue
        # Only now: a failed fetch is retried next time, even if the feed stays the same.
        registry.save_page(replace(updated, entry_hash=entry.entry_hash))
        pages.append(PageFetch(entry.link))
    return FeedFetch(url, title, tuple(pages))
