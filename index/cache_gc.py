"""Pruning the embedding cache: entries that no kept generation of the index uses are deleted.

The cache is keyed by model, input version and the hash of the exact embedded text; a
generation uses the keys of its paragraphs and sentences under the model and backend its
manifest records. Everything else (edited or deleted text, other models) only takes space.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from index.embed import passage_input, sentence_cache_text
from index.embedding_cache import (
    AUTO_VACUUM_SHARE,
    CacheKey,
    cache_model_key,
    prune_unreferenced,
    text_key,
)
from index.errors import CitebotIndexError, IndexCorrupt
from index.manifest import read_manifest
from index.settings import KnowledgeBaseSettings
from index.store_layout import CACHE_PATH, META_NAME, connect_readonly, generation_names
from index.store_layout import generations_dir as _generations_dir

log = logging.getLogger(__name__)

_ROWS = 2_000  # paragraphs read per step


@dataclass(frozen=True)
class CacheGc:
    """What a cache pruning did: entries removed and kept, bytes before and after."""

    path: str
    generations: int
    removed: int
    kept: int
    bytes_before: int
    bytes_after: int
    # Whether the file was rewritten to give the space back (else freed pages wait for reuse).
    vacuumed: bool
    seconds: float

    @property
    def saved_bytes(self) -> int:
        """Bytes the cache files shrank by."""
        return max(0, self.bytes_before - self.bytes_after)


def _generation_keys(folder: Path) -> Iterator[CacheKey]:
    """Cache keys of every paragraph and sentence text of one generation, streamed."""
    manifest = read_manifest(folder)
    model = cache_model_key(manifest.model_id, manifest.backend)
    version, prefix = manifest.passage_input, manifest.passage_prefix
    mode = manifest.sentence_vectors
    conn = connect_readonly(folder / META_NAME)
    try:
        rows = conn.execute(
            "SELECT p.text, group_concat(s.start || ':' || s.\"end\") FROM paragraphs p "
            "LEFT JOIN sentences s ON s.paragraph_id = p.id GROUP BY p.id"
        )
        while batch := rows.fetchmany(_ROWS):
            for text, spans in batch:
                # Exactly the inputs ``index.build`` embeds and caches.
                yield model, version, text_key(prefix + passage_input(text))
                for span in (spans.split(",") if spans else ()):
                    start, end = (int(x) for x in span.split(":"))
                    yield model, version, text_key(
                        sentence_cache_text(prefix, text, (start, end), mode)
                    )
    finally:
        conn.close()


def _referenced(folders: list[Path]) -> Iterator[CacheKey]:
    for folder in folders:
        yield from _generation_keys(folder)


def _readable(folders: list[Path]) -> None:
    """Raise unless every generation's manifest and metadata can be read.

    Pruning without one generation's keys would drop vectors it needs: rebuilding it would then
    embed everything again.
    """
    import sqlite3

    for folder in folders:
        try:
            read_manifest(folder)
            conn = connect_readonly(folder / META_NAME)
            try:
                conn.execute("SELECT COUNT(*) FROM sentences").fetchone()
            finally:
                conn.close()
        except (CitebotIndexError, sqlite3.DatabaseError) as exc:
            raise IndexCorrupt(
                f"cannot read generation {folder} ({exc}), so the embedding cache was not "
                "pruned; run `citebot index verify`"
            ) from None


def prune_cache(root: Path, *, vacuum_share: float = AUTO_VACUUM_SHARE) -> CacheGc:
    """Delete cache entries no generation under ``root`` uses (call under the build lock)."""
    started = time.monotonic()
    cache = root / CACHE_PATH
    folders = [_generations_dir(root) / name for name in generation_names(root)]
    if not cache.is_file():
        return CacheGc(str(cache), len(folders), 0, 0, 0, 0, False, 0.0)
    _readable(folders)
    result = prune_unreferenced(cache, _referenced(folders), vacuum_share=vacuum_share)
    return CacheGc(
        str(cache), len(folders), result.removed, result.kept, result.bytes_before,
        result.bytes_after, result.vacuumed, round(time.monotonic() - started, 3),
    )


def collect_garbage(settings: KnowledgeBaseSettings) -> CacheGc:
    """``citebot index gc``: prune the embedding cache and give the space back to the disk."""
    from index.build import build_lock
    from index.errors import IndexNotFound

    root = Path(settings.index.path)
    if not root.is_dir():
        raise IndexNotFound(f"no index at {root}; run `citebot index build`")
    with build_lock(root):
        return prune_cache(root, vacuum_share=0.0)
