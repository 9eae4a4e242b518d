"""Frozen records of web sources and refreshes, returned by the public API."""

from __future__ import annotations

from dataclasses import dataclass

from index.models import BuildSummary

# Kinds of source: a page added by URL, a file uploaded in the chat, a configured feed, a
# configured folder.
URL = "url"
UPLOAD = "upload"
FEED = "feed"
FOLDER = "folder"
# Kinds whose source is one article: a refresh says one word of each.
SINGLE = (URL, UPLOAD)


@dataclass(frozen=True)
class SourceResult:
    """What one refresh did to one source: its articles added, updated, unchanged or failed.

    A page added by URL or an upload is one article, so exactly one count is 1. ``reason`` is
    the first failure's reason; ``failures`` lists every failed item (entry URL or file) with
    its reason. Failed items keep whatever was indexed from them before.
    """

    source: str
    kind: str
    title: str = ""
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    reason: str = ""
    failures: tuple[tuple[str, str], ...] = ()

    @property
    def outcome(self) -> str:
        """One word for a single page ("added", "updated", "unchanged", "failed"), or counts."""
        if self.kind in SINGLE:
            for word in ("failed", "added", "updated", "removed"):
                if getattr(self, word):
                    return word
            return "unchanged"
        return (
            f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"failed {self.failed}" + (f", removed {self.removed}" if self.removed else "")
        )


@dataclass(frozen=True)
class SourceStatus:
    """A source of the index and its latest refresh (``refreshed_at`` None: not yet)."""

    source: str
    kind: str
    title: str | None = None
    refreshed_at: str | None = None
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class RefreshReport:
    """The outcome of ``refresh_sources``/``add_urls``/``remove_source``: each source, the build."""

    sources: tuple[SourceResult, ...]
    build: BuildSummary
    requests: int = 0
    fetch_seconds: float = 0.0
