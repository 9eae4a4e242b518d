"""Sharded builds: N processes or machines each embed one slice of the sources into the same new
generation, and ``publish_index`` switches to it once every shard has reported done.

Every shard reads the whole source list (cheap next to embedding) so that it numbers articles
as a single build would, keeps the slice whose article ids hash to it, and assigns new ids in
its own residue class (``index.build_plan.plan_build``). A shard that died is simply run
again: it replaces whatever rows it had written.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from index.errors import IndexNotFound, SettingsInvalid
from index.manifest import Manifest
from index.storage import ArticleRecord, PreviousGeneration, Shard, Storage, open_storage

if TYPE_CHECKING:
    from index.diskarray import VectorRows
    from index.embed import Embedder
    from index.milvus_reader import ShardReport
    from index.milvus_store import MilvusStore
    from index.models import Article
    from index.settings import KnowledgeBaseSettings

log = logging.getLogger(__name__)


def parse_shard(text: str) -> Shard:
    """``"I/N"`` as a shard; ``ValueError`` with a one-line reason otherwise."""
    try:
        index_text, count_text = text.split("/")
        shard = Shard(int(index_text), int(count_text))
    except ValueError:
        raise ValueError(f"a shard is I/N, e.g. 2/4, got {text!r}") from None
    if not 1 <= shard.index <= shard.count:
        raise ValueError(f"shard {text}: I must be between 1 and N")
    return shard


def _sharded(store: Storage) -> MilvusStore:
    from index.milvus_store import MilvusStore

    if not isinstance(store, MilvusStore):
        raise SettingsInvalid(
            'sharded builds write into a shared server: set [index] engine = "milvus"'
        )
    return store


def shard_slice(
    store: Storage, articles: Iterable[Article], shard: Shard
) -> tuple[list[Article], list[int]]:
    """The shard's articles, and each one's number in the whole build's order."""
    _sharded(store)
    picked = [(row, a) for row, a in enumerate(articles, start=1) if shard.holds(a.article_id)]
    return [a for _row, a in picked], [row for row, _a in picked]


def write_shard(
    store: Storage,
    shard: Shard,
    previous: PreviousGeneration | None,
    records: Sequence[ArticleRecord],
    rows: Sequence[int],
    paragraph_vectors: VectorRows,
    sentence_vectors: VectorRows,
    manifest: Manifest,
    approximate_above: int,
) -> Manifest:
    """Write one shard into the pending generation; its name and the shard's counts."""
    milvus = _sharded(store)
    base = previous.generation if previous is not None else None
    generation = milvus.pending(base, shard.count)
    milvus.write_shard(
        generation, shard, records, rows, paragraph_vectors, sentence_vectors, manifest,
        base=base, approximate_above=approximate_above,
    )
    log.info("shard %d/%d written into generation %s", shard.index, shard.count, generation)
    return dataclasses.replace(
        manifest, generation=generation, articles=len(records),
        paragraphs=sum(len(a.paragraphs) for a in records),
        sentences=sum(len(p.sentences) for a in records for p in a.paragraphs),
    )


def publish_index(
    settings: KnowledgeBaseSettings, embedder: Embedder | None = None
) -> Manifest:
    """Switch to the sharded build of the serving generation once all its shards are done."""
    from index.build import build_lock
    from index.embed import Embedder
    from index.milvus_reader import read_reports
    from index.milvus_store import SHARDED

    root = Path(settings.index.path)
    root.mkdir(parents=True, exist_ok=True)
    with build_lock(root):
        store = _sharded(open_storage(settings))
        serving = store._serving_or_none()
        pending = [
            g for g in store.milvus.generations()
            if g.startswith(SHARDED) and g != serving and not store._published(g)
            and any(r.base == serving for r in read_reports(store.milvus, g))
        ]
        if not pending:
            raise IndexNotFound(
                f"no sharded build to publish in {store.milvus.where}; run "
                "`citebot index build --shard I/N` for every shard first"
            )
        # Several shard counts tried on the same index: the complete one wins.
        complete = [g for g in pending if _complete(read_reports(store.milvus, g))]
        if len(complete) > 1:
            raise SettingsInvalid(
                f"several complete sharded builds are waiting ({', '.join(sorted(complete))}); "
                "run `citebot index build` to start over"
            )
        chosen = complete[0] if complete else pending[0]  # finish names the missing shards
        manifest = store.finish(chosen, embedder or Embedder.from_settings(settings.embedding))
        for name in store.prune(settings.index.keep_generations):
            log.info("deleted old generation %s", name)
        return manifest


def _complete(reports: Sequence[ShardReport]) -> bool:
    return bool(reports) and {r.shard for r in reports} == set(range(1, reports[0].shards + 1))
