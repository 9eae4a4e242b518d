"""The web sources of an index and their fetched copies, kept in the index folder.

Layout (beside the generations, which stay immutable)::

    <index>/sources/registry.sqlite   added URLs, feed entries, validators, last refresh results
    <index>/sources/pages/<sha256><suffix>   fetched and uploaded bodies, content-addressed
    <index>/sources/sources.lock      held while the registry changes or a build reads bodies

A build reads the stored bodies (never the network), so a rebuild refetches nothing, and a page
whose refetch fails keeps its last good copy, and so its indexed article.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from index.errors import IndexCorrupt
from index.feeds import FeedEntry
from index.store_layout import exclusive_lock
from index.web_models import SourceResult, SourceStatus

SOURCES_DIR = "sources"
REGISTRY_NAME = "registry.sqlite"
PAGES_DIR = "pages"
LOCK_NAME = "sources.lock"
# Origin of a page added by hand (`citebot index add`); feed entries name their feed's URL.
ADDED = "added"
# Origin of a file uploaded in the chat: its id is "upload:<file name>" and nothing refetches it.
UPLOADED = "upload"
# Pages that stay until removed by hand, whatever the configured feeds.
KEPT = (ADDED, UPLOADED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    url TEXT PRIMARY KEY, origin TEXT NOT NULL, excluded INTEGER NOT NULL DEFAULT 0,
    feed_date TEXT, entry_hash TEXT, body_file TEXT, content_type TEXT, final_url TEXT,
    etag TEXT, last_modified TEXT, title TEXT, author TEXT, fetched_at TEXT, checked_at TEXT
);
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY, title TEXT, etag TEXT, last_modified TEXT, body_hash TEXT
);
CREATE TABLE IF NOT EXISTS feed_entries (
    feed_url TEXT NOT NULL, link TEXT NOT NULL, title TEXT, date TEXT, entry_hash TEXT,
    position INTEGER, PRIMARY KEY (feed_url, link)
);
CREATE TABLE IF NOT EXISTS refreshes (
    source TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT, at TEXT NOT NULL,
    added INTEGER, updated INTEGER, unchanged INTEGER, failed INTEGER, removed INTEGER,
    reason TEXT
);
"""


@dataclass(frozen=True)
class PageRecord:
    """A web page of the index: where it came from and its stored copy."""

    url: str
    origin: str
    excluded: bool = False
    feed_date: str | None = None
    entry_hash: str | None = None
    body_file: str | None = None
    content_type: str | None = None
    final_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    title: str | None = None
    author: str | None = None
    fetched_at: str | None = None
    checked_at: str | None = None


@dataclass(frozen=True)
class FeedState:
    """What the last fetch of a feed left: its validators and body hash."""

    url: str
    title: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None


_PAGE_FIELDS = [f.name for f in dataclasses.fields(PageRecord)]


def sources_dir(root: Path) -> Path:
    """The folder of an index's web sources."""
    return root / SOURCES_DIR


def sources_lock(root: Path) -> AbstractContextManager[None]:
    """Hold the web sources' lock (waiting for another holder: fetches are time-limited)."""
    return exclusive_lock(sources_dir(root) / LOCK_NAME)


class Registry:
    """The registry of one index's web sources (open it under ``sources_lock`` to change it)."""

    def __init__(self, root: Path) -> None:
        self.folder = sources_dir(root)
        self.pages_dir = self.folder / PAGES_DIR
        self.pages_dir.mkdir(parents=True, exist_ok=True)
        path = self.folder / REGISTRY_NAME
        try:
            self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise IndexCorrupt(
                f"the web sources registry {path} is unreadable ({exc}); move it away and add "
                "the URLs again"
            ) from None

    @staticmethod
    def exists(root: Path) -> bool:
        """Whether the index at ``root`` has web sources at all."""
        return (sources_dir(root) / REGISTRY_NAME).is_file()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Pages.
    def pages(self) -> list[PageRecord]:
        """Every page, in the order they were first added."""
        rows = self._db.execute(f"SELECT {', '.join(_PAGE_FIELDS)} FROM pages ORDER BY rowid")
        return [_page(row) for row in rows]

    def page(self, url: str) -> PageRecord | None:
        """One page by URL."""
        row = self._db.execute(
            f"SELECT {', '.join(_PAGE_FIELDS)} FROM pages WHERE url = ?", (url,)
        ).fetchone()
        return _page(row) if row else None

    def save_page(self, record: PageRecord) -> None:
        """Insert or replace a page."""
        values = dataclasses.astuple(record)
        marks = ", ".join("?" for _ in values)
        updates = ", ".join(f"{name} = excluded.{name}" for name in _PAGE_FIELDS[1:])
        with self._db:
            self._db.execute(
                f"INSERT INTO pages ({', '.join(_PAGE_FIELDS)}) VALUES ({marks}) "
                f"ON CONFLICT(url) DO UPDATE SET {updates}",
                values,
            )

    def delete_page(self, url: str) -> None:
        """Forget a page."""
        with self._db:
            self._db.execute("DELETE FROM pages WHERE url = ?", (url,))

    # Feeds.
    def feed(self, url: str) -> FeedState | None:
        """The last fetch of a feed."""
        row = self._db.execute(
            "SELECT url, title, etag, last_modified, body_hash FROM feeds WHERE url = ?", (url,)
        ).fetchone()
        return FeedState(*row) if row else None

    def feed_entries(self, url: str) -> tuple[FeedEntry, ...]:
        """The entries a feed listed when last read."""
        rows = self._db.execute(
            "SELECT link, title, date, entry_hash FROM feed_entries WHERE feed_url = ? "
            "ORDER BY position", (url,)
        )
        return tuple(FeedEntry(link, title or "", date, entry_hash) for link, title, date,
                     entry_hash in rows)

    def save_feed(self, state: FeedState, entries: Sequence[FeedEntry]) -> None:
        """Store a feed's validators and the entries it lists now."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO feeds VALUES (?, ?, ?, ?, ?)",
                dataclasses.astuple(state),
            )
            self._db.execute("DELETE FROM feed_entries WHERE feed_url = ?", (state.url,))
            self._db.executemany(
                "INSERT INTO feed_entries VALUES (?, ?, ?, ?, ?, ?)",
                [(state.url, e.link, e.title, e.date, e.entry_hash, i)
                 for i, e in enumerate(entries)],
            )

    # Stored bodies.
    def store_body(self, data: bytes, suffix: str) -> str:
        """Keep a fetched body; returns its file name (the same bytes share one file)."""
        name = hashlib.sha256(data).hexdigest() + suffix
        path = self.pages_dir / name
        if not path.exists():
            temp = path.with_name(f".tmp-{os.getpid()}-{name}")
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        return name

    def body_path(self, name: str) -> Path:
        """Where a stored body is."""
        return self.pages_dir / name

    def collect_garbage(self) -> int:
        """Delete stored bodies no page refers to; returns how many."""
        used = {row[0] for row in self._db.execute("SELECT body_file FROM pages")}
        removed = 0
        for path in self.pages_dir.iterdir():
            if path.name not in used:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # Last refresh of each source.
    def record(self, results: Sequence[SourceResult], at: str) -> None:
        """Remember each source's latest refresh result."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO refreshes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.source, r.kind, r.title, at, r.added, r.updated, r.unchanged, r.failed,
                  r.removed, r.reason) for r in results],
            )

    def forget_record(self, source: str) -> None:
        """Drop a source's refresh record (it is no source any more)."""
        with self._db:
            self._db.execute("DELETE FROM refreshes WHERE source = ?", (source,))

    def statuses(self) -> dict[str, SourceStatus]:
        """The latest refresh result of every source that has one."""
        rows = self._db.execute(
            "SELECT source, kind, title, at, added, updated, unchanged, failed, removed, reason "
            "FROM refreshes"
        )
        return {row[0]: SourceStatus(*row) for row in rows}


def _page(row: Sequence[object]) -> PageRecord:
    values = dict(zip(_PAGE_FIELDS, row, strict=True))
    values["excluded"] = bool(values["excluded"])
    return PageRecord(**values)  # type: ignore[arg-type]
