"""The Milvus engine: generations are collections, the serving one is behind an alias.

A build writes its rows as one shard (or, with ``citebot index build --shard I/N``, as one of N
shards written by different processes or machines), each shard ends with a report row, and
publishing checks every report against what the collections hold before it moves the alias.
A killed build leaves the alias where it was; the next build drops what it left behind.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.errors import IndexCorrupt, IndexMismatch, IndexNotFound
from index.lexical_tokens import tokenize
from index.manifest import FORMAT_VERSION, REBUILD_HINT, Manifest, SearchIndexInfo
from index.milvus_reader import MilvusGeneration, ShardReport, read_manifest, read_reports
from index.milvus_schema import KINDS, Milvus, create_collections, placeholder
from index.storage import ArticleRecord, ParagraphRecord, PreviousGeneration, Shard
from index.store_layout import directory_size

if TYPE_CHECKING:
    from index.diskarray import VectorRows
    from index.embed import Embedder
    from index.settings import MilvusSettings

log = logging.getLogger(__name__)

_BATCH = 1_000  # rows per insert: well under Milvus's 64 MB message limit with text
_TERMS_CHUNK = 40_000  # characters of term statistics per meta row (VARCHAR holds 65,535 bytes)
SHARDED = "sharded"


class MilvusStore:
    """The index in a Milvus (an ``index.storage.Storage``); ``root`` holds the local cache."""

    def __init__(self, milvus: Milvus, root: Path) -> None:
        self.milvus = milvus
        self.root = root

    @classmethod
    def connect(cls, settings: MilvusSettings, root: Path) -> MilvusStore:
        """Connect to the configured Milvus."""
        return cls(Milvus.connect(settings, root), root)

    def serving(self) -> str:
        """Name of the serving generation; ``IndexNotFound`` when nothing has been built."""
        m = self.milvus
        if m.prefix not in m.call(m.client.list_aliases).get("aliases", []):
            raise IndexNotFound(
                f"no index in {m.where} (no alias {m.prefix}); run `citebot index build`"
            )
        name = m.call(partial(m.client.describe_alias, m.prefix))["collection_name"]
        return str(name)[len(m.prefix) + 1 : -len("_paragraphs")]

    def open(
        self, generation: str | None = None, embedder: Embedder | None = None
    ) -> MilvusGeneration:
        """Open a generation (default: the serving one); with ``embedder``, check compatibility."""
        return MilvusGeneration.open(self.milvus, generation or self.serving(), embedder)

    def manifest(self, generation: str) -> Manifest:
        """A generation's manifest, without opening the rest of it."""
        return read_manifest(self.milvus, generation)

    def previous(self, generation: str) -> PreviousGeneration:
        """Content hashes and paragraph ids of a generation, for an incremental build."""
        m = self.milvus
        reports = read_reports(m, generation)
        high_row = max((r.max_row for r in reports), default=0)
        high_pid = max((r.max_paragraph_id for r in reports), default=0)
        for kind in ("articles", "paragraphs"):
            m.load(m.collection(generation, kind))
        hashes = {
            row["article_id"]: row["content_hash"]
            for row in m.scan(m.collection(generation, "articles"), "row", high_row,
                              ["article_id", "content_hash"])
        }
        ids = {
            (row["article_id"], int(row["number"]), row["text_hash"]): int(row["id"])
            for row in m.scan(m.collection(generation, "paragraphs"), "id", high_pid,
                              ["id", "article_id", "number", "text_hash"])
        }
        return PreviousGeneration(generation, hashes, ids, max(ids.values(), default=0))

    def remove_unfinished(self) -> list[str]:
        """Drop generations that a failed or killed single build left unpublished.

        A sharded build's generation stays: its other shards may be running elsewhere.
        """
        serving = self._serving_or_none()
        removed = []
        for generation, kinds in self.milvus.generations().items():
            if generation == serving or generation.startswith(SHARDED):
                continue
            if "meta" not in kinds or not self._published(generation):
                self.milvus.drop_generation(generation)
                removed.append(generation)
        return removed

    def publish(
        self,
        articles: Sequence[ArticleRecord],
        paragraph_vectors: VectorRows,
        sentence_vectors: VectorRows,
        manifest: Manifest,
        *,
        approximate_above: int,
        embedder: Embedder,
    ) -> Manifest:
        """Write, verify and switch to the generation ``manifest`` names; its final manifest."""
        generation = manifest.generation
        try:
            self.write_shard(
                generation, Shard(), articles, range(1, len(articles) + 1), paragraph_vectors,
                sentence_vectors, manifest, base=None, approximate_above=approximate_above,
            )
            return self.finish(generation, embedder)
        except BaseException:
            self.milvus.drop_generation(generation)
            raise

    def write_shard(
        self,
        generation: str,
        shard: Shard,
        articles: Sequence[ArticleRecord],
        rows: Sequence[int],
        paragraph_vectors: VectorRows,
        sentence_vectors: VectorRows,
        manifest: Manifest,
        *,
        base: str | None,
        approximate_above: int,
    ) -> None:
        """Write one shard's rows into ``generation`` (replacing an earlier run of the shard).

        ``rows`` numbers each article in the whole build's order. The shard's report row is
        written last: its presence is what says the shard is done.
        """
        m = self.milvus
        paragraphs = [(a, p) for a in articles for p in a.paragraphs]
        sentences = sum(len(p.sentences) for _a, p in paragraphs)
        # Every shard estimates the whole build's size alike (slices are about equal).
        kinds = (_kind(len(paragraphs) * shard.count, approximate_above),
                 _kind(sentences * shard.count, approximate_above))
        if not m.call(partial(m.client.has_collection, m.collection(generation, "meta"))):
            create_collections(m, generation, manifest.dimensions, kinds)
        for kind in KINDS:
            m.call(partial(m.client.delete, m.collection(generation, kind),
                           filter=f"shard == {shard.index}"))
        self._insert(generation, "articles", [
            {"row": row, "article_id": a.article_id, "title": a.title, "url": a.url or "",
             "date": a.date or "", "source": a.source, "content_hash": a.content_hash,
             "paragraphs": len(a.paragraphs), "shard": shard.index, "placeholder": placeholder()}
            for row, a in zip(rows, articles, strict=True)
        ])
        self._insert(generation, "paragraphs",
                     _paragraph_rows(paragraphs, paragraph_vectors, shard))
        self._insert(generation, "sentences",
                     _sentence_rows(paragraphs, sentence_vectors, shard))
        df: Counter[str] = Counter()
        length = 0
        for _a, p in paragraphs:
            tokens = tokenize(p.text)
            length += len(tokens)
            df.update(set(tokens))
        self._insert(generation, "meta", _term_rows(shard, sorted(df.items())))
        report = ShardReport(
            shard=shard.index, shards=shard.count, base=base, articles=len(articles),
            paragraphs=len(paragraphs), sentences=sentences, tokens=length,
            max_row=max(rows, default=0),
            max_paragraph_id=max((p.paragraph_id for _a, p in paragraphs), default=0),
            max_sentence_id=max((s[0] for _a, p in paragraphs for s in p.sentences), default=0),
            manifest=_template(manifest, kinds),
        )
        self._insert(generation, "meta", [_meta_row(f"shard/{shard.index}", "shard", shard.index,
                                                    json.dumps(dataclasses.asdict(report)))])

    def finish(self, generation: str, embedder: Embedder | None) -> Manifest:
        """Check every shard reported and the collections hold what they said; switch to it."""
        m = self.milvus
        reports = read_reports(m, generation)
        if not reports:
            raise IndexNotFound(f"no shard of generation {generation} has reported to {m.where}")
        count = reports[0].shards
        missing = sorted(set(range(1, count + 1)) - {r.shard for r in reports})
        if missing:
            raise IndexNotFound(
                f"generation {generation} lacks shard(s) {', '.join(map(str, missing))} of "
                f"{count}; run `citebot index build --shard I/{count}` for each, then publish again"
            )
        template = Manifest.from_json(reports[0].manifest)
        final = dataclasses.replace(
            template,
            generation=generation,
            articles=sum(r.articles for r in reports),
            paragraphs=sum(r.paragraphs for r in reports),
            sentences=sum(r.sentences for r in reports),
        )
        for kind, expected in (("articles", final.articles), ("paragraphs", final.paragraphs),
                               ("sentences", final.sentences)):
            held = m.count(m.collection(generation, kind))
            if held != expected:
                raise IndexCorrupt(
                    f"collection {m.collection(generation, kind)} holds {held} rows but its "
                    f"shards reported {expected}; re-run the build (or its shards)"
                )
        self._insert(generation, "meta", [_meta_row("manifest", "manifest", 0,
                                                    json.dumps(final.to_json()))])
        # Read back what was written before anyone can be switched to it.
        MilvusGeneration.open(m, generation, embedder).close()
        self._switch(generation)
        return final

    def pending(self, base: str | None, shards: int) -> str:
        """The generation a sharded build of ``shards`` on top of ``base`` writes into."""
        import hashlib

        digest = hashlib.sha256(f"{base}/{shards}".encode()).hexdigest()[:12]
        return f"{SHARDED}{shards}_{digest}"

    def _switch(self, generation: str) -> None:
        m = self.milvus
        target = m.collection(generation, "paragraphs")
        if m.prefix in m.call(m.client.list_aliases).get("aliases", []):
            m.call(partial(m.client.alter_alias, collection_name=target, alias=m.prefix))
        else:
            m.call(partial(m.client.create_alias, collection_name=target, alias=m.prefix))

    def prune(self, keep: int) -> list[str]:
        """Drop published generations but the serving one and the ``keep`` newest others."""
        serving = self._serving_or_none()
        published, removed = [], []
        for generation, kinds in self.milvus.generations().items():
            if generation == serving or "meta" not in kinds:
                continue
            if generation.startswith(SHARDED) and not self._published(generation):
                # A sharded build on top of a generation that no longer serves is abandoned.
                if all(r.base != serving for r in read_reports(self.milvus, generation)):
                    self.milvus.drop_generation(generation)
                    removed.append(generation)
                continue
            try:
                published.append((read_manifest(self.milvus, generation).built_at, generation))
            except (IndexCorrupt, IndexMismatch):
                continue  # unpublished, or another version's: not this build's to judge
        published.sort(reverse=True)
        for _built, generation in published[max(keep, 0):]:
            self.milvus.drop_generation(generation)
            removed.append(generation)
        return removed

    def size_bytes(self) -> int:
        """Bytes in the local index folder (the embedding cache, and Milvus Lite's own data)."""
        return directory_size(self.root) if self.root.is_dir() else 0

    def _serving_or_none(self) -> str | None:
        try:
            return self.serving()
        except IndexNotFound:
            return None

    def _published(self, generation: str) -> bool:
        m = self.milvus
        return bool(m.query(m.collection(generation, "meta"), 'key == "manifest"', ["key"]))

    def _insert(self, generation: str, kind: str, rows: Iterable[dict[str, Any]]) -> None:
        name = self.milvus.collection(generation, kind)
        rows = iter(rows)
        while batch := list(islice(rows, _BATCH)):
            self.milvus.call(partial(self.milvus.client.insert, name, batch))


def _as_stored(vectors: VectorRows) -> Iterator[list[float]]:
    """Vectors rounded to float16 as the FAISS engine stores them, so both score alike.

    A build hands its vectors over on disk; they are read ``_BATCH`` rows at a time.
    """
    for start in range(0, len(vectors), _BATCH):
        rows = (vectors[start : start + _BATCH] if isinstance(vectors, np.ndarray)
                else vectors.slice(start, start + _BATCH))
        rounded: list[list[float]] = (
            np.asarray(rows, dtype=np.float16).astype(np.float32).tolist()
        )
        yield from rounded


# Rows are made and vectors read a batch at a time, so a build of millions of paragraphs never
# holds more than one batch of them: as Python lists of floats a 384-dimension vector takes
# ~13 KB, and all of a 100k-paragraph build's (~600k vectors) would take ~8 GB.
def _paragraph_rows(
    paragraphs: Sequence[tuple[ArticleRecord, ParagraphRecord]], vectors: VectorRows, shard: Shard
) -> Iterator[dict[str, Any]]:
    for (a, p), vector in zip(paragraphs, _as_stored(vectors), strict=True):
        yield {"id": p.paragraph_id, "article_id": a.article_id, "number": p.number,
               "text": p.text, "section": p.section or "", "title": a.title, "url": a.url or "",
               "date": a.date or "", "text_hash": p.text_hash, "page": p.page or 0,
               "shard": shard.index,
               "vector": vector}


def _sentence_rows(
    paragraphs: Sequence[tuple[ArticleRecord, ParagraphRecord]], vectors: VectorRows, shard: Shard
) -> Iterator[dict[str, Any]]:
    spans = ((p.paragraph_id, s) for _a, p in paragraphs for s in p.sentences)
    for (pid, (sid, start, end)), vector in zip(spans, _as_stored(vectors), strict=True):
        yield {"id": sid, "paragraph_id": pid, "start": start, "end": end, "shard": shard.index,
               "vector": vector}


def _kind(vectors: int, approximate_above: int) -> str:
    """Exact search while a table is small, Milvus's HNSW graph index beyond that."""
    return "milvus-flat" if vectors <= approximate_above else "milvus-hnsw"


def _template(manifest: Manifest, kinds: tuple[str, str]) -> dict[str, Any]:
    return dataclasses.replace(
        manifest, format_version=FORMAT_VERSION, files=(),
        paragraph_search=SearchIndexInfo(kind=kinds[0]),
        sentence_search=SearchIndexInfo(kind=kinds[1]),
    ).to_json()


def _meta_row(key: str, kind: str, shard: int, data: str) -> dict[str, Any]:
    return {"key": key, "kind": kind, "shard": shard, "data": data, "placeholder": placeholder()}


def _term_rows(shard: Shard, items: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Term statistics as meta rows of at most ``_TERMS_CHUNK`` characters each."""
    rows, chunk, size = [], [], 0
    for term, df in items:
        chunk.append([term, df])
        size += len(term) + 12
        if size >= _TERMS_CHUNK:
            rows.append(chunk)
            chunk, size = [], 0
    if chunk:
        rows.append(chunk)
    return [
        _meta_row(f"terms/{shard.index}/{n:06d}", "terms", shard.index,
                  json.dumps(part, ensure_ascii=False))
        for n, part in enumerate(rows)
    ]


__all__ = ["REBUILD_HINT", "MilvusStore", "Shard"]
