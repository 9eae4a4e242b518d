"""Fetch web pages and files politely and safely: limits on time, size and redirects.

Every request names citebot in its User-Agent, waits its turn per host, connects only to
allowed addresses (``index.web_guard``), follows redirects itself so each hop is checked and
counted, and streams the body so an oversized one is cut off, never held whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from index.settings import SourcesSettings
from index.web_guard import BlockedAddress, GuardedTransport

_MB = 1024 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}

# Content types routed to the loader of a file suffix; a suffix no loader knows is refused.
SUFFIX_BY_TYPE = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
# Types that say nothing about the content: the URL's own suffix decides.
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/download"}
_TEXT_SUFFIXES = {".html", ".txt", ".md"}


class FetchFailed(Exception):
    """A fetch that produced nothing usable; the message is the short reason shown to users."""


@dataclass(frozen=True)
class Fetched:
    """The outcome of one fetch: a body (``status`` 200) or "not modified" (304)."""

    url: str
    final_url: str
    status: int
    body: bytes
    content_type: str
    suffix: str
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        """The server said the copy we have is current."""
        return self.status == 304


def default_user_agent() -> str:
    """citebot's honest User-Agent: its name and version, and what it does."""
    try:
        version = metadata.version("citebot")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"citebot/{version} (article indexer)"


def normalize_url(url: str) -> str:
    """The URL as an article id: http(s) only, scheme and host lower-case, no fragment."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FetchFailed(f"not an http(s) URL: {text[:200]!r}")
    netloc = parts.netloc.lower() if "@" not in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def suffix_for(content_type: str, url: str, known: Callable[[str], bool]) -> str:
    """The loader suffix for a response; ``FetchFailed`` for a type citebot cannot read."""
    kind = content_type.split(";", 1)[0].strip().lower()
    suffix = SUFFIX_BY_TYPE.get(kind)
    if suffix is None and kind in _GENERIC_TYPES:
        path = urlsplit(url).path.lower()
        dot = path.rfind(".")
        suffix = path[dot:] if dot > path.rfind("/") else None
    if suffix is None or not known(suffix):
        raise FetchFailed(f"unsupported content type {kind or 'none'!r}")
    return suffix


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"').lower()
    return None


def as_utf8(body: bytes, content_type: str) -> bytes:
    """A text body re-encoded as UTF-8 when the server named another charset."""
    charset = _charset(content_type)
    if charset in (None, "utf-8", "utf8"):
        return body
    try:
        return body.decode(charset or "utf-8", errors="replace").encode("utf-8")
    except LookupError:  # an unknown charset name: leave decoding to the loader's guesses
        return body


class HostPacer:
    """Waits so that two requests to one host are at least ``delay`` seconds apart."""

    def __init__(
        self,
        delay: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.delay = delay
        self._clock = clock
        self._sleep = sleep
        self._last: dict[str, float] = {}

    def wait(self, host: str) -> None:
        """Return once a request to ``host`` is allowed, and count it as made now."""
        last = self._last.get(host)
        if last is not None and self.delay > 0:
            remaining = last + self.delay - self._clock()
            if remaining > 0:
                self._sleep(remaining)
        self._last[host] = self._clock()


class Fetcher:
    """An HTTP client with citebot's limits; ``requests`` counts the requests it made."""

    def __init__(
        self,
        settings: SourcesSettings,
        *,
        known_suffix: Callable[[str], bool],
        pacer: HostPacer | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.max_bytes = int(settings.max_download_mb * _MB)
        self._known = known_suffix
        self.pacer = pacer or HostPacer(settings.host_delay_seconds)
        timeout = max(settings.timeout_seconds, 0.1)
        self._client = httpx.Client(
            transport=transport or GuardedTransport(settings.allow_private_networks),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={
                "User-Agent": settings.user_agent or default_user_agent(),
                "Accept": "text/html,application/xhtml+xml,application/pdf,text/plain;q=0.8,"
                "*/*;q=0.5",
            },
        )
        self.requests = 0
        self.bytes_read = 0

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self, url: str, etag: str | None = None, last_modified: str | None = None, *,
        feed: bool = False,
    ) -> Fetched:
        """GET ``url`` (conditionally when validators are given); ``FetchFailed`` with a reason.

        A ``feed`` may come as any XML type (its parser judges it); a page must have a content
        type some loader reads.
        """
        deadline = time.monotonic() + self.settings.timeout_seconds
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        seen = {url}
        for _hop in range(self.settings.max_redirects + 1):
            nxt = self._request(url, current, headers, deadline, feed)
            if isinstance(nxt, Fetched):
                return nxt
            if nxt in seen:
                raise FetchFailed(f"redirect loop at {nxt}")
            seen.add(nxt)
            current = nxt
        raise FetchFailed(f"more than {self.settings.max_redirects} redirects")

    def _request(
        self, url: str, current: str, headers: dict[str, str], deadline: float, feed: bool
    ) -> Fetched | str:
        """One hop: the result, or the URL a redirect points to."""
        try:
            current = normalize_url(current)
            self.pacer.wait(urlsplit(current).hostname or "")
            self.requests += 1
            with self._client.stream("GET", current, headers=headers) as response:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    return urljoin(current, response.headers["location"])
                return self._response(url, current, response, deadline, feed)
        except BlockedAddress as exc:
            raise FetchFailed(str(exc)) from None
        except httpx.TimeoutException:
            raise FetchFailed(f"timed out after {self.settings.timeout_seconds:g} s") from None
        except httpx.HTTPError as exc:
            raise FetchFailed(f"network error: {exc or type(exc).__name__}"[:200]) from None

    def _response(
        self, url: str, current: str, response: httpx.Response, deadline: float, feed: bool
    ) -> Fetched:
        status = response.status_code
        if status >= 400 or status in _REDIRECTS:
            raise FetchFailed(f"HTTP {status} {response.reason_phrase}".strip())
        content_type = response.headers.get("content-type", "")
        etag = response.headers.get("etag")
        last_modified = response.headers.get("last-modified")
        if status == 304:
            return Fetched(url, current, 304, b"", content_type, "", etag, last_modified)
        if status != 200:
            raise FetchFailed(f"HTTP {status} {response.reason_phrase} (no content)".strip())
        suffix = "" if feed else suffix_for(content_type, current, self._known)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchFailed(self._too_large(int(declared)))
        body = self._read(response, deadline)
        if suffix in _TEXT_SUFFIXES:
            body = as_utf8(body, content_type)
        return Fetched(url, current, 200, body, content_type, suffix, etag, last_modified)

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        """The body, streamed: cut off past the size limit or the deadline."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes(64 * 1024):
            size += len(chunk)
            self.bytes_read += len(chunk)
            if size > self.max_bytes:
                raise FetchFailed(self._too_large(size, at_least=True))
            if time.monotonic() > deadline:
                raise FetchFailed(f"timed out after {self.settings.timeout_seconds:g} s")
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, size: int, at_least: bool = False) -> str:
        over = "over" if at_least else f"{size / _MB:.1f} MB, over"
        return (
            f"{over} the {self.settings.max_download_mb:g} MB limit "
            "(raise [sources] max_download_mb to index it)"
        )
