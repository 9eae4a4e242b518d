"""Incremental builds, atomic generation switches, the build lock and the KnowledgeBase facade."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import CORPUS, write_corpus
from index import (
    Embedder,
    IndexLocked,
    IndexMismatch,
    KnowledgeBaseSettings,
    NothingIndexed,
    Paragraph,
    build_index,
    open_knowledge_base,
    sentence_spans,
)
from index.build import build_lock
from index.sentences import SPLITTER_VERSION
from index.store_layout import read_current
from index.store_reader import open_generation

pytestmark = pytest.mark.model

PARAGRAPHS = sum(len(a["paragraphs"]) for a in CORPUS.values())  # type: ignore[arg-type]


class FailingEmbedder:
    """The real embedder, except that embedding passages fails (a build dying half-way)."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        raise RuntimeError("the disk caught fire")

    def embed_with_sentences(self, texts: Sequence[str], spans: Any) -> Any:
        raise RuntimeError("the disk caught fire")


def _edit(corpus_dir: Path, key: str, number: int, text: str) -> None:
    record = json.loads(json.dumps(CORPUS[key]))
    record["paragraphs"][number] = text
    write_corpus(corpus_dir, {key: record})


def _generations(settings: KnowledgeBaseSettings) -> list[str]:
    return sorted(p.name for p in (Path(settings.index.path) / "generations").iterdir())


def test_first_build_indexes_everything(kb_settings: KnowledgeBaseSettings, embedder: Embedder) -> None:
    summary = build_index(kb_settings, embedder=embedder)
    assert (summary.articles, summary.added, summary.updated, summary.removed, summary.unchanged) == (
        3, 3, 0, 0, 0)
    assert summary.paragraphs == PARAGRAPHS and summary.embedded == PARAGRAPHS
    assert summary.embedded_sentences > 0 and summary.skipped == ()
    assert read_current(Path(kb_settings.index.path)) == summary.generation


def test_second_build_embeds_nothing(kb_settings: KnowledgeBaseSettings, embedder: Embedder) -> None:
    first = build_index(kb_settings, embedder=embedder)
    second = build_index(kb_settings, embedder=embedder)
    assert (second.embedded, second.embedded_sentences) == (0, 0)
    assert (second.unchanged, second.added, second.updated, second.removed) == (3, 0, 0, 0)
    assert second.generation != first.generation
    assert read_current(Path(kb_settings.index.path)) == second.generation


def test_editing_one_paragraph_embeds_exactly_it(
    kb_settings: KnowledgeBaseSettings, corpus_dir: Path, embedder: Embedder
) -> None:
    build_index(kb_settings, embedder=embedder)
    root = Path(kb_settings.index.path)
    before = {(r.article_id, r.number): r.paragraph_id
              for r in open_generation(root).rows(list(range(1, 100)))}
    _edit(corpus_dir, "bread", 1, "Rye bread is dense and dark. It keeps fresh for a week.")
    summary = build_index(kb_settings, embedder=embedder)
    assert (summary.embedded, summary.updated, summary.unchanged) == (1, 1, 2)
    assert summary.embedded_sentences == 2  # both sentences of the new paragraph are new text
    rows = open_generation(root).rows(list(range(1, 100)))
    after = {(r.article_id, r.number): r.paragraph_id for r in rows}
    changed = [key for key in after if after[key] != before[key]]
    assert changed == [("bread", 1)]  # unchanged paragraphs keep their ids
    assert after[("bread", 1)] > max(before.values())
    kb = open_knowledge_base(kb_settings, embedder)
    assert kb.search("rye bread that stays fresh", 1)[0].ref.text.startswith("Rye bread")


def test_deleted_file_is_removed(
    kb_settings: KnowledgeBaseSettings, corpus_dir: Path, embedder: Embedder
) -> None:
    build_index(kb_settings, embedder=embedder)
    (corpus_dir / "volcanoes.jsonl").unlink()
    summary = build_index(kb_settings, embedder=embedder)
    assert (summary.articles, summary.removed, summary.unchanged, summary.embedded) == (2, 1, 2, 0)
    kb = open_knowledge_base(kb_settings, embedder)
    assert kb.article_paragraphs("volcanoes") == ()
    assert all(hit.ref.article_id != "volcanoes" for hit in kb.search("magma eruption", 10))


def test_rebuild_reuses_the_cache_unless_cleaned(
    kb_settings: KnowledgeBaseSettings, embedder: Embedder
) -> None:
    build_index(kb_settings, embedder=embedder)
    rebuilt = build_index(kb_settings, rebuild=True, embedder=embedder)
    assert (rebuilt.added, rebuilt.unchanged, rebuilt.embedded) == (3, 0, 0)
    cleaned = build_index(kb_settings, rebuild=True, clean_cache=True, embedder=embedder)
    assert cleaned.embedded == PARAGRAPHS and cleaned.embedded_sentences > 0


def test_failed_build_leaves_the_previous_generation_serving(
    kb_settings: KnowledgeBaseSettings, corpus_dir: Path, embedder: Embedder
) -> None:
    first = build_index(kb_settings, embedder=embedder)
    root = Path(kb_settings.index.path)
    reader = open_knowledge_base(kb_settings, embedder)
    _edit(corpus_dir, "owls", 0, "Barn owls nest in old barns and church towers across Europe.")
    with pytest.raises(RuntimeError, match="caught fire"):
        build_index(kb_settings, embedder=FailingEmbedder(embedder))  # type: ignore[arg-type]
    assert read_current(root) == first.generation
    assert _generations(kb_settings) == [first.generation]  # no half-written generation left
    assert reader.search("snowy owl arctic", 1)[0].ref.article_id == "owls"
    assert reader.refresh() is False
    fresh = open_knowledge_base(kb_settings, embedder)
    assert fresh.paragraph("owls", 0).text.startswith("Owls are nocturnal")


def test_stale_temporary_generation_is_cleaned(
    kb_settings: KnowledgeBaseSettings, embedder: Embedder
) -> None:
    build_index(kb_settings, embedder=embedder)
    stale = Path(kb_settings.index.path) / "generations" / ".tmp-killed-build"
    stale.mkdir()
    (stale / "meta.sqlite").write_bytes(b"half")
    build_index(kb_settings, embedder=embedder)
    assert not stale.exists()


def test_reader_keeps_working_until_it_refreshes(
    kb_settings: KnowledgeBaseSettings, corpus_dir: Path, embedder: Embedder
) -> None:
    build_index(kb_settings, embedder=embedder)
    reader = open_knowledge_base(kb_settings, embedder)
    old_generation = reader.generation
    _edit(corpus_dir, "owls", 2, "Great grey owls hear voles moving under deep snow.")
    build_index(kb_settings, rebuild=True, embedder=embedder)
    assert reader.generation == old_generation
    assert reader.paragraph("owls", 2).text.startswith("An owl can turn its head")
    assert reader.search("owl head rotation", 1)[0].ref.number == 2
    assert reader.refresh() is True and reader.generation != old_generation
    assert reader.paragraph("owls", 2).text.startswith("Great grey owls")
    assert reader.refresh() is False


def test_old_generations_are_pruned(kb_settings: KnowledgeBaseSettings, embedder: Embedder) -> None:
    names = [build_index(kb_settings, embedder=embedder).generation for _ in range(3)]
    assert _generations(kb_settings) == names[1:]  # serving + keep_generations (1) older one
    none_kept = dataclasses.replace(
        kb_settings, index=dataclasses.replace(kb_settings.index, keep_generations=0)
    )
    last = build_index(none_kept, embedder=embedder).generation
    assert _generations(kb_settings) == [last]


def test_concurrent_build_fails_fast(kb_settings: KnowledgeBaseSettings, embedder: Embedder) -> None:
    root = Path(kb_settings.index.path)
    root.mkdir(parents=True)
    with build_lock(root):
        with pytest.raises(IndexLocked, match=r"another build is running \(pid \d+\)"):
            build_index(kb_settings, embedder=embedder)
    assert build_index(kb_settings, embedder=embedder).articles == 3  # released afterwards


def test_nothing_indexed_keeps_the_previous_generation(
    kb_settings: KnowledgeBaseSettings, tmp_path: Path, embedder: Embedder
) -> None:
    first = build_index(kb_settings, embedder=embedder)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "broken.jsonl").write_text("{not json\n")
    with pytest.raises(NothingIndexed, match="no article could be indexed from .*broken.jsonl"):
        build_index(kb_settings, [str(empty)], embedder=embedder)
    assert read_current(Path(kb_settings.index.path)) == first.generation


def test_skipped_files_are_reported(
    kb_settings: KnowledgeBaseSettings, corpus_dir: Path, embedder: Embedder
) -> None:
    (corpus_dir / "broken.jsonl").write_text("{not json\n")
    summary = build_index(kb_settings, embedder=embedder)
    assert summary.articles == 3
    assert [Path(s.path).name for s in summary.skipped] == ["broken.jsonl:line 1"]


def test_other_passage_prefix_cannot_open(kb_settings: KnowledgeBaseSettings, embedder: Embedder) -> None:
    build_index(kb_settings, embedder=embedder)
    with pytest.raises(IndexMismatch, match="citebot index rebuild"):
        open_knowledge_base(kb_settings, Embedder(passage_prefix="passage: "))


def test_stored_vectors_are_the_texts_embeddings(
    kb_settings: KnowledgeBaseSettings, embedder: Embedder
) -> None:
    build_index(kb_settings, embedder=embedder)
    generation = open_generation(Path(kb_settings.index.path))
    row = open_knowledge_base(kb_settings, embedder).search("sourdough starter", 1)[0].ref
    np.testing.assert_allclose(
        generation.paragraph_vectors([row.paragraph_id])[0],
        embedder.embed_passages([row.text])[0], atol=1e-3)  # stored as float16
    sentences = generation.sentences([row.paragraph_id])[row.paragraph_id]
    assert [(s.start, s.end) for s in sentences] == sentence_spans(row.text)
    # Sentences are embedded as the embedder's mode says (by default in their paragraph's pass).
    (_vector, pooled), = embedder.embed_with_sentences([row.text], [sentence_spans(row.text)])
    np.testing.assert_allclose(
        generation.sentence_vectors([s.sentence_id for s in sentences]), pooled, atol=1e-3)


def test_knowledge_base_lookups(kb_settings: KnowledgeBaseSettings, embedder: Embedder) -> None:
    build_index(kb_settings, embedder=embedder)
    kb = open_knowledge_base(kb_settings, embedder)
    owls = CORPUS["owls"]["paragraphs"]
    assert kb.paragraph("owls", 1) == Paragraph("owls", 1, owls[1])  # type: ignore[index]
    assert kb.paragraph("owls", 9) is None and kb.paragraph("nope", 0) is None
    assert [p.number for p in kb.article_paragraphs("owls")] == [0, 1, 2]
    assert [a.article_id for a in kb.latest_articles(2)] == ["bread", "owls"]
    assert kb.latest_articles(5)[-1].article_id == "volcanoes"  # undated last
    top = kb.search("Which owl hunts lemmings in the Arctic?", 3)
    assert (top[0].ref.article_id, top[0].ref.number) == ("owls", 1)
    assert top[0].score >= top[1].score >= top[2].score
    hit = kb.hit_for(top[0].ref.paragraph_id)
    assert hit is not None and hit.ref.text == top[0].ref.text and len(hit.sentences) == 2
    assert kb.hit_for(10_000) is None
    best_id = top[0].ref.paragraph_id
    # Search scores each candidate's sentences against the query.
    scored = next(h for h in kb.search("active in daylight", 10) if h.ref.paragraph_id == best_id)
    scored = scored.sentences
    assert [s.start for s in scored] == sorted(s.start for s in scored)
    best = max(scored, key=lambda s: s.score)
    assert "daylight" in top[0].ref.text[best.start : best.end]
    np.testing.assert_allclose(np.linalg.norm(kb.embed_query("owls")), 1.0, atol=1e-5)
    stats = kb.stats()
    assert (stats.articles, stats.paragraphs, stats.dimensions) == (3, PARAGRAPHS, 384)
    assert stats.sentences >= PARAGRAPHS and stats.size_bytes > 0
    assert stats.model == embedder.model_id and stats.generation == kb.generation


def test_prior_lifts_a_paragraph(kb_settings: KnowledgeBaseSettings, embedder: Embedder) -> None:
    build_index(kb_settings, embedder=embedder)
    kb = open_knowledge_base(kb_settings, embedder)
    plain = kb.search("how does an owl follow prey", 7)
    last = plain[-1]
    lifted = kb.search("how does an owl follow prey", 7, prior={last.ref.paragraph_id: 100.0})
    assert lifted[0].ref.paragraph_id == last.ref.paragraph_id


def test_concurrent_searches_agree(kb_settings: KnowledgeBaseSettings, embedder: Embedder) -> None:
    build_index(kb_settings, embedder=embedder)
    kb = open_knowledge_base(kb_settings, embedder)
    queries = ["owl eyes", "sour taste of bread", "why magma rises", "lemmings", "hot oven"] * 4
    expected = {q: [h.ref.paragraph_id for h in kb.search(q, 3)] for q in set(queries)}
    results: list[tuple[str, list[int]]] = []
    errors: list[BaseException] = []

    def work(query: str) -> None:
        try:
            ids = [h.ref.paragraph_id for h in kb.search(query, 3)]
            [kb.hit_for(pid) for pid in ids]
            results.append((query, ids))
        except BaseException as exc:  # surfaced below: a thread's exception would be lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(q,)) for q in queries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == len(queries)
    assert all(ids == expected[q] for q, ids in results)


def test_an_index_split_the_old_way_serves_until_one_build_resplits_it(
    kb_settings: KnowledgeBaseSettings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An older splitter (here: one sentence per paragraph) and a manifest that predates the
    # splitter version, as an index built by an older citebot has.
    with monkeypatch.context() as patched:
        patched.setattr("index.build_plan.sentence_spans", lambda text: [(0, len(text))])
        build_index(kb_settings, embedder=embedder)
    root = Path(kb_settings.index.path)
    manifest_path = root / "generations" / read_current(root) / "manifest.json"
    data = json.loads(manifest_path.read_text(encoding="utf-8"))
    del data["sentence_splitter"]
    manifest_path.write_text(json.dumps(data), encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="index.knowledge_base"):
        kb = open_knowledge_base(kb_settings, embedder)
    assert kb.stats().sentence_splitter == 1
    assert kb.search("Which owl hunts lemmings in the Arctic?", 1)[0].ref.article_id == "owls"
    notices = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(notices) == 1 and "\n" not in notices[0] and "citebot index build" in notices[0]

    summary = build_index(kb_settings, embedder=embedder)
    # Paragraph texts did not change: alone, their vectors come from the cache and only the
    # sentences the new splitter cuts differently are embedded; pooled in their paragraph's
    # pass, the paragraphs whose sentences changed (all 7 here) run once more.
    assert summary.embedded == (0 if embedder.sentence_vectors == "alone" else 7)
    assert summary.embedded_sentences > 0
    kb = open_knowledge_base(kb_settings, embedder)
    assert kb.stats().sentence_splitter == SPLITTER_VERSION
    generation = open_generation(root)
    for article in CORPUS.values():
        for number, text in enumerate(article["paragraphs"]):  # type: ignore[arg-type]
            row = generation.paragraph_row(str(article["id"]), number)
            assert row is not None
            stored = generation.sentences([row.paragraph_id])[row.paragraph_id]
            assert [(s.start, s.end) for s in stored] == sentence_spans(text)
    assert build_index(kb_settings, embedder=embedder).embedded_sentences == 0


def test_a_heading_alone_has_no_sentence_and_is_no_hit(
    kb_settings: KnowledgeBaseSettings, corpus_dir: Path, embedder: Embedder
) -> None:
    write_corpus(corpus_dir, {"notes": {
        "id": "notes", "title": "Field notes",
        "paragraphs": ["Lemmings in the Arctic tundra",
                       "Lemmings are small rodents that live in the Arctic tundra."],
    }})
    build_index(kb_settings, embedder=embedder)
    generation = open_generation(Path(kb_settings.index.path))
    heading = generation.paragraph_row("notes", 0)
    assert heading is not None and generation.sentences([heading.paragraph_id]) == {
        heading.paragraph_id: ()}
    hits = open_knowledge_base(kb_settings, embedder).search("lemmings in the Arctic tundra", 10)
    assert hits and heading.paragraph_id not in {h.ref.paragraph_id for h in hits}
    assert all(h.sentences for h in hits)
