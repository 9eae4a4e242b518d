"""Read RSS and Atom feeds into entries: link, title, date and a hash of what the feed says.

feedparser reads every RSS and Atom dialect, tolerates the malformed feeds found in the wild and
parses their many date formats; citebot gives it bytes it fetched itself (``index.fetch``), so
its own HTTP code is never used.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from index.fetch import FetchFailed, normalize_url


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a feed: the page it links to, and the feed's own word on it."""

    link: str
    title: str
    # The entry's publication (else update) date as YYYY-MM-DD, or None.
    date: str | None
    # Hash of everything the feed says about the entry: unchanged means no need to fetch it.
    entry_hash: str


@dataclass(frozen=True)
class Feed:
    """A parsed feed."""

    title: str
    entries: tuple[FeedEntry, ...]


def _date(entry: dict[str, Any]) -> str | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return time.strftime("%Y-%m-%d", value)
    return None


def _entry_hash(entry: dict[str, Any], link: str) -> str:
    contents = [c.get("value", "") for c in entry.get("content", [])]
    payload = [
        link,
        entry.get("title", ""),
        entry.get("updated", ""),
        entry.get("published", ""),
        entry.get("summary", ""),
        contents,
    ]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


def parse_feed(body: bytes, url: str) -> Feed:
    """Parse a feed's bytes (``url`` resolves relative links); ``FetchFailed`` if it is none."""
    import feedparser

    parsed = feedparser.parse(body, response_headers={"content-location": url})
    version = parsed.get("version", "")
    if not version and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = f": {problem}" if problem else ""
        raise FetchFailed(f"not an RSS or Atom feed{detail}"[:200])
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for item in parsed.entries:
        # A plain dict: feedparser maps a missing "updated" to "published" with a warning.
        entry = dict(item)
        raw = entry.get("link") or ""
        if not raw and entry.get("id", "").startswith(("http://", "https://")):
            raw = entry["id"]
        try:
            link = normalize_url(raw)
        except FetchFailed:
            continue  # an entry without a web page has nothing to fetch
        if link in seen:
            continue
        seen.add(link)
        entries.append(
            FeedEntry(link, str(entry.get("title", "")).strip(), _date(entry),
                      _entry_hash(entry, link))
        )
    return Feed(str(parsed.feed.get("title", "")).strip(), tuple(entries))
