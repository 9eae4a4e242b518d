"""A local web server for fetch tests: pages, feeds, redirects, slow and huge responses.

Routes are set per test and can change between requests; every request is logged, so tests
count what a refresh asked for. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What one path answers: a body (with an ETag unless ``etag`` is False), or a redirect."""

    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    location: str = ""
    delay: float = 0.0
    etag: bool = True
    # Stream this many bytes of filler instead of ``body``, without a Content-Length.
    stream_bytes: int = 0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Logged:
    """One request the server received."""

    path: str
    status: int
    user_agent: str


class WebServer:
    """A threaded HTTP server on 127.0.0.1 with routes a test sets."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[Logged] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
                server._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path``."""
        return self.base + path

    def requests_to(self, prefix: str) -> int:
        """How many requests asked for a path starting with ``prefix``."""
        return sum(1 for entry in self.log if entry.path.startswith(prefix))

    def start(self) -> WebServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        route = self.routes.get(handler.path)
        agent = handler.headers.get("User-Agent", "")
        if route is None:
            self.log.append(Logged(handler.path, 404, agent))
            handler.send_error(404, "Not Found")
            return
        if route.delay and self._stop.wait(route.delay):
            return
        etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
        if route.etag and route.status == 200 and handler.headers.get("If-None-Match") == etag:
            self.log.append(Logged(handler.path, 304, agent))
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.end_headers()
            return
        self.log.append(Logged(handler.path, route.status, agent))
        handler.send_response(route.status)
        if route.location:
            handler.send_header("Location", route.location)
        handler.send_header("Content-Type", route.content_type)
        if route.etag and route.status == 200:
            handler.send_header("ETag", etag)
        for name, value in route.headers.items():
            handler.send_header(name, value)
        try:
            if route.stream_bytes:
                handler.close_connection = True
                handler.end_headers()
                for chunk in _filler(route.stream_bytes):
                    handler.wfile.write(chunk)
                return
            handler.send_header("Content-Length", str(len(route.body)))
            handler.end_headers()
            handler.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should on a huge body


def _filler(total: int) -> Iterator[bytes]:
    chunk = b"<p>" + b"x" * (64 * 1024 - 7) + b"</p>\n"
    sent = 0
    while sent < total:
        piece = chunk[: total - sent]
        sent += len(piece)
        yield piece


def article_html(title: str, paragraphs: list[str], *, date: str = "", author: str = "") -> bytes:
    """A small article page."""
    meta = f'<meta name="date" content="{date}">' if date else ""
    meta += f'<meta name="author" content="{author}">' if author else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{title}</title>{meta}</head><body><nav>Home | About</nav>"
        f"<article><h1>{title}</h1>{body}</article><footer>© Example</footer></body></html>"
    ).encode()


def rss(entries: list[tuple[str, str, str]], title: str = "Example RSS") -> bytes:
    """An RSS 2.0 feed of (link, title, RFC 822 date) entries."""
    items = "".join(
        f"<item><title>{t}</title><link>{link}</link><pubDate>{d}</pubDate>"
        f"<description>{t}</description></item>"
        for link, t, d in entries
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://example.org/</link>{items}</channel></rss>"
    ).encode()


def atom(entries: list[tuple[str, str, str]], title: str = "Example Atom") -> bytes:
    """An Atom feed of (link, title, ISO date) entries."""
    items = "".join(
        f'<entry><title>{t}</title><link href="{link}"/><id>{link}</id>'
        f"<updated>{d}</updated></entry>"
        for link, t, d in entries
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{title}</title><id>urn:example</id><updated>2024-01-01T00:00:00Z</updated>"
        f"{items}</feed>"
    ).encode()

