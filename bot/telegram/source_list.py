"""The /sources message: what the index holds, its latest articles, and each source with its
last refresh (folders, feeds, added pages, uploads)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import PurePath

from index import ArticleInfo, IndexStats, SourceStatus

# Sources listed in full; the rest are counted. Each line is short, so the list stays within one
# or two messages however many pages were added.
MAX_SOURCES = 30
_KIND_NAMES = {"folder": "folder", "feed": "feed", "url": "page", "upload": "upload"}


def when(iso: str | None) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM UTC`` (as given when it does not parse)."""
    try:
        moment = datetime.fromisoformat(iso or "")
    except (TypeError, ValueError):
        return iso or ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M") + " UTC"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _link(text: str, url: str) -> str:
    if url.startswith(("http://", "https://")):
        return f'<a href="{escape(url, quote=True)}">{escape(text)}</a>'
    return escape(text)


def _outcome(status: SourceStatus) -> str:
    if status.kind in ("url", "upload"):
        words = [w for w in ("failed", "added", "updated", "removed") if getattr(status, w)]
        return words[0] if words else "unchanged"
    parts = [f"{getattr(status, w)} {w}" for w in ("added", "updated", "unchanged", "failed")
             if getattr(status, w)]
    return ", ".join(parts) or "nothing found"


def source_line(status: SourceStatus, admin: bool) -> str:
    """One source: its kind and name, when it was last refreshed and how that went.

    Admins also see what to type to remove a page or an upload and why a refresh failed; a
    folder shows only its name, never where it is on the server.
    """
    kind = _KIND_NAMES.get(status.kind, status.kind)
    if status.kind == "folder":
        name = escape(PurePath(status.source).name or status.source)
    else:
        name = _link(status.title or status.source, status.source)
    line = f"• {kind} {name}"
    if admin and status.kind in ("url", "upload"):
        line += f" <code>{escape(status.source)}</code>"
    if status.refreshed_at is None:
        return line + " · not refreshed yet"
    line += f" · {escape(when(status.refreshed_at))}: {_outcome(status)}"
    if admin and status.failed and status.reason:
        line += f" ({escape(status.reason[:200])})"
    return line


def render_sources(
    stats: IndexStats,
    latest: Sequence[ArticleInfo],
    statuses: Sequence[SourceStatus],
    *,
    admin: bool,
) -> str:
    """The whole /sources message (HTML; long lists are split by the sender)."""
    lines = [
        f"<b>{_count(stats.articles, 'article')}</b>, {_count(stats.paragraphs, 'paragraph')}; "
        f"index built {escape(when(stats.built_at))}."
    ]
    if latest:
        lines.append("\n<b>Latest</b>")
    for article in latest:
        title = _link(article.title or article.article_id, str(article.url or ""))
        lines.append(f"• {title}" + (f" · {escape(article.date)}" if article.date else ""))
    if statuses:
        lines.append("\n<b>Sources</b> (last refresh)")
        lines.extend(source_line(s, admin) for s in statuses[:MAX_SOURCES])
        if len(statuses) > MAX_SOURCES:
            lines.append(f"… and {len(statuses) - MAX_SOURCES} more.")
    if admin:
        lines.append("\n/add a link or send me a file to add an article; /remove ID takes one out.")
    return "\n".join(lines)
