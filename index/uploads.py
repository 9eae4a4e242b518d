"""Files uploaded in the chat as sources of the index, kept beside the fetched web pages.

An upload is a page of the registry whose origin is ``upload`` and whose id is
``upload:<file name>``: its bytes are stored content-addressed under the index's ``sources/``
folder, builds read it like any stored page, refreshes never refetch it, and uploading a file of
the same name again replaces it (the build then says added, updated or unchanged).
"""

from __future__ import annotations

import dataclasses
import re
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from index.errors import SourceError

if TYPE_CHECKING:
    from index.embed import Embedder
    from index.settings import KnowledgeBaseSettings
    from index.web_models import RefreshReport

UPLOAD_PREFIX = "upload:"
# What people send from their phones and desktops; JSON(L) is left out: it may hold many
# articles with ids of their own, which one upload id cannot stand for.
UPLOAD_SUFFIXES = (".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt")
UPLOAD_FORMATS = "PDF, Word (.docx), HTML, Markdown (.md) or text (.txt)"
_MB = 1024 * 1024
# Long enough for real file names, short enough to read in a list and type in /remove.
_MAX_NAME = 120
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")


class UnsupportedUpload(SourceError):
    """An uploaded file of a type citebot does not index; the message names the ones it does."""


def upload_name(file_name: str) -> str:
    """The file name an upload is known by: its last path part, printable, at most 120 chars."""
    name = unicodedata.normalize("NFC", file_name).replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(_UNSAFE.sub(" ", name).split())
    if len(name) > _MAX_NAME:
        stem, dot, suffix = name.rpartition(".")
        keep = _MAX_NAME - len(suffix) - 1
        name = f"{stem[:keep]}.{suffix}" if dot and 0 < keep else name[:_MAX_NAME]
    return name or "file"


def upload_id(file_name: str) -> str:
    """The article id of an uploaded file: ``upload:<file name>``."""
    return UPLOAD_PREFIX + upload_name(file_name)


def upload_suffix(file_name: str) -> str:
    """The file's lower-case suffix if citebot indexes it; ``UnsupportedUpload`` otherwise."""
    suffix = Path(upload_name(file_name)).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        shown = f"{suffix} files" if suffix else "files without an extension"
        raise UnsupportedUpload(f"I can't index {shown}; send a {UPLOAD_FORMATS} file")
    return suffix


def add_upload(
    settings: KnowledgeBaseSettings,
    file_name: str,
    data: bytes,
    *,
    embedder: Embedder | None = None,
) -> RefreshReport:
    """Keep an uploaded file as a source and index it; the same file name again updates it.

    ``SourceError`` (one line) for a type, size or content that cannot be indexed; then nothing
    changes, and an earlier upload of that name stays indexed.
    """
    # Here, not at the top: the bot checks names with this module long before any upload, and
    # the loaders (PDF, Word, HTML) cost memory only once one is indexed.
    from index.load import load_file
    from index.web_models import UPLOAD, RefreshReport
    from index.web_refresh import PageFetch, now
    from index.web_registry import UPLOADED, PageRecord, Registry, sources_lock
    from index.web_sources import _build, _page_result, _record

    suffix = upload_suffix(file_name)
    limit = settings.sources.max_download_mb
    if limit > 0 and len(data) > limit * _MB:
        raise SourceError(
            f"{len(data) / _MB:.1f} MB is over the {limit:g} MB limit "
            "(raise [sources] max_download_mb to index it)"
        )
    article_id = upload_id(file_name)
    root = Path(settings.index.path)
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with sources_lock(root), Registry(root) as registry:
        body = registry.store_body(bytes(data), suffix)
        documents, skipped = load_file(
            registry.body_path(body), article_id, max_file_mb=settings.index.max_file_mb
        )
        if not documents:
            registry.collect_garbage()  # the body nobody refers to
            reason = skipped[0].reason if skipped else "no article found"
            raise SourceError(f"{upload_name(file_name)}: {reason}")
        registry.save_page(PageRecord(
            url=article_id, origin=UPLOADED, body_file=body, content_type=suffix,
            title=documents[0].title, fetched_at=now(), checked_at=now(),
        ))
        registry.collect_garbage()
        titles = {article_id: documents[0].title}
    seconds = time.monotonic() - started
    build = _build(settings, embedder, root, [article_id])
    result = _page_result(PageFetch(article_id), build, titles)
    result = dataclasses.replace(result, kind=UPLOAD)
    _record(root, [result])
    return RefreshReport((result,), build, 0, round(seconds, 3))
