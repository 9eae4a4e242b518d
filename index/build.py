"""Incremental index builds: read sources, embed only new text, switch generations atomically."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from index.build_plan import BuildPlan, Counted, plan_build
from index.build_plan import content_hash as content_hash  # where callers found it
from index.build_plan import text_hash as text_hash
from index.build_vectors import Embedded, embed_records
from index.diskspace import disk_full, out_of_space
from index.embed import Embedder
from index.embedding_cache import EmbeddingCache
from index.errors import CitebotIndexError, IndexCorrupt, IndexLocked, IndexNotFound, NothingIndexed
from index.manifest import FORMAT_VERSION, Manifest
from index.models import Article, BuildSummary, SkippedFile
from index.sentences import SPLITTER_VERSION
from index.settings import KnowledgeBaseSettings
from index.shards import shard_slice, write_shard
from index.storage import (
    ArticleRecord,
    PreviousGeneration,
    Shard,
    Storage,
    new_generation_id,
    open_storage,
)
from index.store_layout import CACHE_PATH, LOCK_NAME

if TYPE_CHECKING:
    from index.ingest import ArticleStream

log = logging.getLogger(__name__)

@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Hold ``<index>/build.lock``; a second concurrent build fails fast with ``IndexLocked``."""
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise IndexLocked(
                f"another build is running (pid {holder}) on {root}; wait for it to finish"
            ) from None
        # The file is never deleted: unlinking a lock file lets two builds lock different inodes.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def build_index(
    settings: KnowledgeBaseSettings,
    paths: Sequence[str] | None = None,
    *,
    rebuild: bool = False,
    progress: bool = False,
    embedder: Embedder | None = None,
    clean_cache: bool = False,
    shard: Shard | None = None,
) -> BuildSummary:
    """Build (incrementally) or rebuild the index from ``paths`` (default: the configured sources).

    The index's web sources (added URLs, configured feeds' entries) are always included, from
    their stored copies: a build never fetches. ``rebuild`` ignores the serving generation but
    still reuses the embedding cache, since cached vectors are keyed by model and exact text;
    ``clean_cache`` empties the cache as well. ``shard`` writes only that slice of the sources
    into a sharded build (``publish_index`` switches to it once every shard is done).
    """
    started = time.monotonic()
    root = Path(settings.index.path)
    root.mkdir(parents=True, exist_ok=True)
    sources = [str(p) for p in (paths if paths else settings.index.sources)]
    with build_lock(root):
        embedder = embedder or Embedder.from_settings(settings.embedding)
        from index.ingest import ArticleStream
        from index.web_sources import web_documents

        max_tokens = settings.split.max_tokens or embedder.max_tokens
        web, web_skipped = web_documents(root, settings)
        # Read a file at a time while planning: the corpus is never in memory as a whole.
        articles = ArticleStream(
            sources, settings.split, embedder.count_tokens, max_tokens,
            max_file_mb=settings.index.max_file_mb, documents=web, scratch=root,
        )
        return _build_locked(
            root, settings, articles, web_skipped, sources=sources, rebuild=rebuild,
            progress=progress, embedder=embedder, clean_cache=clean_cache, started=started,
            shard=shard,
        )


def _previous_generation(store: Storage) -> PreviousGeneration | None:
    try:
        return store.previous(store.serving())
    except IndexNotFound:  # nothing built yet
        return None
    except CitebotIndexError as exc:
        log.warning("ignoring the serving generation: %s", exc)
        return None


def _index_backend(store: Storage, generation: str) -> str:
    """The embedding backend recorded by a generation (empty when it cannot be read)."""
    try:
        return store.manifest(generation).backend
    except CitebotIndexError:
        return ""


def _open_cache(path: Path, embedder: Embedder, clean: bool) -> EmbeddingCache:
    """Open the embedding cache; with ``clean``, a corrupt one is deleted and started afresh."""

    def open_cache() -> EmbeddingCache:
        return EmbeddingCache(
            path, embedder.model_id, embedder.passage_input_version, embedder.dimensions,
            backend=embedder.backend,
        )

    try:
        return open_cache()
    except IndexCorrupt:
        # The error tells the user to run `rebuild --clean-cache`: that must work even when
        # SQLite cannot open the file to empty it.
        if not clean:
            raise
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    log.warning("deleted the corrupt embedding cache %s", path)
    return open_cache()


def _tidy(
    store: Storage, settings: KnowledgeBaseSettings, root: Path, *, rebuild: bool, sharded: bool
) -> tuple[int, int]:
    """Delete old generations after a publish, and after a rebuild the cache entries none uses."""
    if sharded:  # nothing is published until `index publish`
        return 0, 0
    for name in store.prune(settings.index.keep_generations):
        log.info("deleted old generation %s", name)
    # Pruning reads every kept generation's texts from the index folder (the FAISS engine's).
    return _prune_cache(root) if rebuild and settings.index.engine == "faiss" else (0, 0)


def _build_locked(
    root: Path,
    settings: KnowledgeBaseSettings,
    articles: ArticleStream,
    web_skipped: Sequence[SkippedFile],
    *,
    sources: Sequence[str],
    rebuild: bool,
    progress: bool,
    embedder: Embedder,
    clean_cache: bool,
    started: float,
    shard: Shard | None = None,
) -> BuildSummary:
    """Plan, embed, publish and prune, holding the build lock."""
    store = open_storage(settings)
    if shard is None:
        for name in store.remove_unfinished():
            log.info("removed the unfinished generation %s of an earlier build", name)
    read = Counted(articles)
    planned: Iterable[Article] = read
    rows: list[int] = []
    if shard is not None:  # a shard may well be empty: it still reports done
        planned, rows = shard_slice(store, read, shard)

    previous = _previous_generation(store)
    if previous is not None and not rebuild:
        # Backend "auto" goes on embedding as the serving generation was embedded: its cached
        # vectors stay valid and a running reader's query embedder keeps matching.
        embedder.use_index_backend(_index_backend(store, previous.generation))
    plan = plan_build(planned, previous, rebuild, root, shard)
    try:
        skipped = (*web_skipped, *articles.skipped)
        if not read.count:
            where = ", ".join(sources) if sources else "the given articles"
            detail = ""
            if skipped:
                detail = f" ({len(skipped)} skipped, first: {skipped[0].path}: {skipped[0].reason})"
            raise NothingIndexed(f"no article could be indexed from {where}{detail}")
        manifest, vectors = _write(store, settings, root, plan, rows, previous, embedder,
                                   clean_cache=clean_cache, progress=progress, shard=shard)
    finally:
        plan.records.close()
    generation = manifest.generation
    pruned, saved = _tidy(store, settings, root, rebuild=rebuild, sharded=shard is not None)

    summary = BuildSummary(
        articles=manifest.articles,
        added=plan.added,
        updated=plan.updated,
        removed=plan.removed,
        unchanged=plan.unchanged,
        paragraphs=manifest.paragraphs,
        embedded=vectors.embedded,
        skipped=tuple(skipped),
        seconds=round(time.monotonic() - started, 3),
        generation=generation,
        embedded_sentences=vectors.embedded_sentences,
        changes=tuple(plan.changes),
        cache_pruned=pruned,
        cache_saved_bytes=saved,
    )
    log.info("built generation %s: %s", generation, summary)
    return summary


def _write(
    store: Storage,
    settings: KnowledgeBaseSettings,
    root: Path,
    plan: BuildPlan,
    rows: Sequence[int],
    previous: PreviousGeneration | None,
    embedder: Embedder,
    *,
    clean_cache: bool,
    progress: bool,
    shard: Shard | None,
) -> tuple[Manifest, Embedded]:
    """Embed the plan's texts and write them as a new generation (or shard): its manifest."""
    from index.store import DiskStore

    if isinstance(store, DiskStore):
        # Before the vectors' scratch files take the room the generation itself needs.
        store.check_room(plan.records, embedder.dimensions, settings.index.approximate_above)
    cache = _open_cache(root / CACHE_PATH, embedder, clean_cache)
    generation = new_generation_id()
    try:
        if clean_cache:
            log.info("emptied the embedding cache (%d vectors)", cache.clear())
        vectors = _embed(plan.records, embedder, cache, progress, root)
        if shard is not None:
            manifest = write_shard(
                store, shard, previous, plan.records, rows, vectors.paragraphs, vectors.sentences,
                _manifest(generation, embedder), settings.index.approximate_above,
            )
        else:
            manifest = store.publish(
                plan.records, vectors.paragraphs, vectors.sentences,
                _manifest(generation, embedder),
                approximate_above=settings.index.approximate_above, embedder=embedder,
            )
    finally:
        cache.close()
    return manifest, vectors


def _prune_cache(root: Path) -> tuple[int, int]:
    """After a rebuild, drop cached vectors no kept generation uses: (entries, bytes saved)."""
    from index.cache_gc import prune_cache

    try:
        result = prune_cache(root)
    except CitebotIndexError as exc:  # the build itself succeeded; pruning can wait
        log.warning("the embedding cache was not pruned: %s", exc)
        return 0, 0
    log.info("pruned %d unused cached embeddings (%d bytes saved)", result.removed,
             result.saved_bytes)
    return result.removed, result.saved_bytes


def _embed(
    records: Sequence[ArticleRecord], embedder: Embedder, cache: EmbeddingCache, progress: bool,
    scratch: Path,
) -> Embedded:
    """Vectors of every paragraph and sentence on disk; a full disk is one line naming it."""
    try:
        return embed_records(records, embedder, cache, progress, scratch)
    except OSError as exc:
        reason = out_of_space(exc, scratch)
        if reason is None:
            raise
        raise disk_full(scratch, "storing the new vectors", reason, None) from None


def _manifest(generation: str, embedder: Embedder) -> Manifest:
    """The new generation's manifest, before its writer fills in counts, files and searches."""
    return Manifest(
        format_version=FORMAT_VERSION,
        generation=generation,
        model_id=embedder.model_id,
        backend=embedder.backend,
        dimensions=embedder.dimensions,
        normalized=True,
        passage_input=embedder.passage_input_version,
        passage_prefix=embedder.passage_prefix,
        sentence_vectors=embedder.sentence_vectors,
        articles=0,
        paragraphs=0,
        sentences=0,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        sentence_splitter=SPLITTER_VERSION,
    )
