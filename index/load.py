"""Load article files (txt, html, md, json, jsonl, pdf, docx) from files and folders.

Problems with one file or record never stop a load: they become ``SkippedFile`` entries with a
short reason. Article ids are stable: a file's path relative to the folder it was found in
(or its name when given directly) without extension; a JSON record's own ``id``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from index.loaders.decode import FileTooLarge, UnreadableFile, read_bytes, read_text
from index.loaders.docx import parse_docx
from index.loaders.html import parse_html
from index.loaders.jsonl_stream import stream_jsonl, streams
from index.loaders.markdown import parse_markdown
from index.loaders.pdf import parse_pdf
from index.loaders.records import parse_json, parse_jsonl
from index.loaders.text import parse_text
from index.models import Document, LoadResult, SkippedFile

log = logging.getLogger(__name__)

_MB = 1024 * 1024


class _Parser(Protocol):
    def __call__(
        self, text: str, *, article_id: str, source: str
    ) -> tuple[list[Document], list[SkippedFile]]: ...


class _BinaryParser(Protocol):
    def __call__(
        self, data: bytes, *, article_id: str, source: str
    ) -> tuple[list[Document], list[SkippedFile]]: ...


def _single(parse: Callable[..., Document]) -> Any:
    """A parser of one document per file, as a parser of many."""

    def parser(
        content: Any, *, article_id: str, source: str
    ) -> tuple[list[Document], list[SkippedFile]]:
        return [parse(content, article_id=article_id, source=source)], []

    return parser


PARSERS: dict[str, _Parser] = {
    ".txt": _single(parse_text),
    ".html": _single(parse_html),
    ".htm": _single(parse_html),
    ".md": _single(parse_markdown),
    ".markdown": _single(parse_markdown),
    ".jsonl": parse_jsonl,
    ".json": parse_json,
}

# Formats read as bytes: their text is inside a container, not a text encoding.
BINARY_PARSERS: dict[str, _BinaryParser] = {
    ".pdf": parse_pdf,
    ".docx": _single(parse_docx),
}

# Formats people will try that cannot be read, with what to do instead.
_UNSUPPORTED = {
    ".doc": "old Word format .doc; save it as .docx",
    ".rtf": "RTF is not supported; save it as .docx",
    ".odt": "OpenDocument text is not supported; save it as .docx",
}


def load_paths(paths: Sequence[str | Path], *, max_file_mb: float = 0) -> LoadResult:
    """Load every supported file under ``paths`` (files or folders, recursively).

    Files over ``max_file_mb`` megabytes (0 = no limit) are skipped with a reason.
    """
    skipped: list[SkippedFile] = []
    documents = tuple(iter_documents(paths, skipped, max_file_mb=max_file_mb))
    return LoadResult(documents=documents, skipped=tuple(skipped))


def iter_documents(
    paths: Sequence[str | Path], skipped: list[SkippedFile], *, max_file_mb: float = 0
) -> Iterator[Document]:
    """The documents of ``load_paths``, a file at a time; what is skipped goes to ``skipped``."""
    first_source: dict[str, str] = {}
    for raw in paths:
        root = Path(raw)
        if root.is_dir():
            files = list(_walk(root))
        elif os.path.lexists(root):
            # Not only regular files: a FIFO or a dangling link gets its own reason below.
            files = [(root, root.stem)]
        else:
            skipped.append(SkippedFile(str(root), "no such file or folder"))
            continue
        for path, article_id in files:
            for document in _file_documents(path, article_id, skipped, max_file_mb):
                if document.article_id in first_source:
                    skipped.append(
                        SkippedFile(
                            document.source,
                            f"duplicate article id '{document.article_id}' "
                            f"(kept the one from {first_source[document.article_id]})",
                        )
                    )
                    continue
                first_source[document.article_id] = document.source
                yield document


def _file_documents(
    path: Path, article_id: str, skipped: list[SkippedFile], max_file_mb: float
) -> Iterator[Document]:
    """The documents of one file; a big JSON Lines file is read a line at a time."""
    limit = int(max_file_mb * _MB) if max_file_mb > 0 else 0
    try:
        streamed = streams(path, limit)
    except FileTooLarge as exc:
        skipped.append(SkippedFile(str(path), _too_large(exc, max_file_mb)))
        return
    if not streamed:
        loaded, problems = load_file(path, article_id, max_file_mb=max_file_mb)
        skipped.extend(problems)
        yield from loaded
        return
    for item in stream_jsonl(path, article_id=article_id, source=str(path)):
        if isinstance(item, SkippedFile):
            skipped.append(item)
        elif any(block.text.strip() for block in item.blocks):
            yield item
        else:
            skipped.append(SkippedFile(f"{path} ({item.article_id})", "no paragraphs of text"))


def _too_large(exc: FileTooLarge, max_file_mb: float) -> str:
    return (
        f"{exc.size / _MB:.1f} MB is over the {max_file_mb:g} MB limit "
        "(raise [index] max_file_mb to index it)"
    )


def load_file(
    path: Path, article_id: str, *, max_file_mb: float = 0
) -> tuple[list[Document], list[SkippedFile]]:
    """Load one file; ``article_id`` is its id (or the fallback prefix for JSON records)."""
    source = str(path)
    suffix = path.suffix.lower()
    parser = PARSERS.get(suffix)
    binary = BINARY_PARSERS.get(suffix)
    if parser is None and binary is None:
        reason = _UNSUPPORTED.get(suffix, f"unsupported file type '{path.suffix or path.name}'")
        return [], [SkippedFile(source, reason)]
    limit = int(max_file_mb * _MB) if max_file_mb > 0 else 0
    try:
        if binary is not None:
            documents, skipped = binary(
                read_bytes(path, limit), article_id=article_id, source=source
            )
        else:
            assert parser is not None
            text = read_text(path, limit)
            documents, skipped = parser(text, article_id=article_id, source=source)
    except FileTooLarge as exc:
        return [], [SkippedFile(source, _too_large(exc, max_file_mb))]
    except UnreadableFile as exc:
        return [], [SkippedFile(source, str(exc))]
    except Exception as exc:  # a parser bug on one odd file must not stop the whole build
        log.debug("cannot parse %s", source, exc_info=True)
        return [], [SkippedFile(source, f"cannot parse ({type(exc).__name__}: {exc})"[:200])]
    kept = []
    for document in documents:
        if any(block.text.strip() for block in document.blocks):
            kept.append(document)
        else:
            where = source if len(documents) == 1 else f"{source} ({document.article_id})"
            skipped.append(SkippedFile(where, "no paragraphs of text"))
    return kept, skipped


def _walk(root: Path) -> Iterator[tuple[Path, str]]:
    """Yield (file, article id) under ``root`` in a stable order, skipping hidden entries.

    Symlinked folders are followed once each, so a link back up the tree cannot loop.
    """
    visited: set[tuple[int, int]] = set()
    for folder, dirnames, filenames in os.walk(root, followlinks=True):
        stat = os.stat(folder)
        if (stat.st_dev, stat.st_ino) in visited:
            dirnames[:] = []
            continue
        visited.add((stat.st_dev, stat.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            relative = path.relative_to(root)
            yield path, relative.with_suffix("").as_posix()
