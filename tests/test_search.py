"""Hybrid search: the lexical signals, their fusion, and search over a small real index."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, write_corpus
from index import Embedder, IndexSettings, KnowledgeBaseSettings, build_index
from index.bm25 import LexicalIndex
from index.fusion import SIGNALS, fuse, lexical_match
from index.search import HybridSearcher
from index.settings import SearchSettings
from index.store_layout import META_NAME
from index.store_reader import Generation, open_generation

# -- signals and fusion on constructed examples (no model) ---------------------------------------

LEXICON = LexicalIndex.build(
    ["Owls hunt mice at night.", "Bakers bake bread.", "Rivers flood in spring.", "Owls sleep."],
    [1, 2, 3, 4],
)


def test_lexical_match_measures_whole_paragraph_sentences_and_phrases() -> None:
    terms = LEXICON.query_terms("Do owls hunt mice?")  # owl, hunt, mice
    text = "Mice hide from owls. Owls hunt at dusk."
    match = lexical_match(terms, text, [(0, 20), (21, len(text))])
    owl, hunt, mice = terms.idf.tolist()
    assert match.coverage == pytest.approx(1.0)
    assert match.sentence_coverage == pytest.approx([(owl + mice) / terms.mass,
                                                     (owl + hunt) / terms.mass])
    # "owl hunt" is adjacent in the text, "hunt mice" is not.
    assert match.phrase == pytest.approx(float(terms.bigram_idf[0] / terms.bigram_idf.sum()))


def test_title_and_section_count_once_towards_the_lexical_shares() -> None:
    terms = LEXICON.query_terms("When do owls hunt mice?")  # owl, hunt, mice
    owl, hunt, mice = (w / terms.mass for w in terms.idf.tolist())
    text = "They hunt at dusk. Mice hide."
    spans = [(0, 18), (19, len(text))]
    plain = lexical_match(terms, text, spans)
    titled = lexical_match(terms, text, spans, ("Owls of the north", "Hunting"))
    assert plain.coverage == titled.coverage == pytest.approx(hunt + mice)
    assert (plain.title_coverage, plain.title_sentence_coverage, plain.title_phrase) == (0, 0, 0)
    # "owl" only in the title; "hunt" (section) is already in the text, so it is not counted again.
    assert titled.title_coverage == pytest.approx(owl)
    # The best sentence with the title read into it: "hunt" + "owl" in the first, "mice" + "owl"
    # + "hunt" in the second; the signal is the gain over the best plain sentence.
    assert titled.title_sentence_coverage == pytest.approx(1.0 - max(plain.sentence_coverage))
    # "owl hunt" is adjacent in neither the text nor one heading ("Owls of the north" / "Hunting").
    assert titled.title_phrase == 0.0
    paired = lexical_match(terms, text, spans, ("How owls hunt", ""))
    assert paired.title_phrase == pytest.approx(float(terms.bigram_idf[0] / terms.bigram_idf.sum()))


def test_fusion_counts_title_words_at_the_title_weight() -> None:
    features = _features(coverage=[0.5, 0.5], title_coverage=[0.0, 0.5],
                         sentence_coverage=[0.5, 0.5], title_sentence_coverage=[0.0, 0.5],
                         phrase=[0.0, 0.0], title_phrase=[0.0, 1.0])
    settings = SearchSettings()
    fused = fuse(features, settings)
    gain = settings.title_weight * (0.5 * settings.coverage_weight
                                    + 0.5 * settings.sentence_coverage_weight
                                    + settings.phrase_weight)
    assert fused[1] - fused[0] == pytest.approx(gain, rel=1e-5)
    blind = fuse(features, dataclasses.replace(settings, title_weight=0.0))
    assert blind[0] == pytest.approx(blind[1])


def test_lexical_match_without_query_words_is_zero() -> None:
    terms = LEXICON.query_terms("what is it?")  # only stop words
    match = lexical_match(terms, "Owls hunt mice.", [(0, 15)])
    assert (match.coverage, match.sentence_coverage, match.phrase) == (0.0, [0.0], 0.0)


def _features(**columns: list[float]) -> dict[str, np.ndarray]:
    size = len(next(iter(columns.values())))
    features = {name: np.zeros(size, dtype=np.float32) for name in SIGNALS}
    features.update({name: np.asarray(v, dtype=np.float32) for name, v in columns.items()})
    return features


def test_fusion_ranking_follows_the_signal_weights() -> None:
    # Candidate 0 is semantically close but shares no words; candidate 1 shares every word.
    features = _features(dense=[0.8, 0.3], sentence=[0.8, 0.3], coverage=[0.0, 1.0],
                         sentence_coverage=[0.0, 1.0], phrase=[0.0, 1.0])
    defaults = SearchSettings()
    semantic = dataclasses.replace(defaults, coverage_weight=0.0, sentence_coverage_weight=0.0,
                                   phrase_weight=0.0)
    lexical = dataclasses.replace(defaults, dense_weight=0.0, sentence_weight=0.0)
    assert np.argmax(fuse(features, semantic)) == 0
    assert np.argmax(fuse(features, lexical)) == 1
    assert np.argmax(fuse(features, defaults)) == 1  # full word match beats a 0.5 cosine gap


def test_fusion_adds_the_prior_as_is() -> None:
    features = _features(dense=[0.7, 0.5], sentence=[0.7, 0.5])
    settings = SearchSettings()
    plain = fuse(features, settings)
    assert np.argmax(plain) == 0
    features["prior"] = np.asarray([0.0, 5.0], dtype=np.float32)
    boosted = fuse(features, settings)
    assert boosted[1] == pytest.approx(plain[1] + 5.0)
    assert np.argmax(boosted) == 1


def test_fused_score_does_not_depend_on_the_other_candidates() -> None:
    settings = SearchSettings()
    pair = fuse(_features(dense=[0.7, 0.2], sentence=[0.6, 0.1], coverage=[0.5, 0.0]), settings)
    alone = fuse(_features(dense=[0.7], sentence=[0.6], coverage=[0.5]), settings)
    assert pair[0] == pytest.approx(alone[0])


# -- search over a small index built with the real model ------------------------------------------

EXTRA = {
    "pumps": {
        "id": "pumps",
        "title": "Pump parts",
        "paragraphs": [
            "The north pump takes filter cartridge 4471. It is serviced by the day shift.",
            "The south pump takes filter cartridge 7144. It is serviced by the night shift.",
            "The east pump has no filter. Its intake is cleaned by hand every week.",
        ],
    },
    "markets": {
        "id": "markets",
        "title": "Town markets",
        "paragraphs": [
            "On Saturdays the market square fills with stalls selling vegetables, cheese and "
            "flowers. The stalls go up before dawn.",
            "Prices at the market went up this year because the harvest was poor.",
        ],
    },
    # The stone's finding is told without naming it: only the title says which stone it is.
    "rosetta": {
        "id": "rosetta",
        "title": "The Rosetta Stone",
        "paragraphs": [
            "The Rosetta Stone is a slab of dark granodiorite carrying one decree in three "
            "scripts. It is about 112 cm tall and weighs roughly 760 kg.",
            "French soldiers found the stone in July 1799 while rebuilding an old fort near the "
            "town of Rashid in the Nile Delta.",
        ],
    },
    "stele": {
        "id": "stele",
        "title": "The Mesha Stele",
        "paragraphs": [
            "A missionary found the basalt stone in 1868 at Dhiban, east of the Dead Sea. Its "
            "inscription tells of a Moabite king's victories.",
        ],
    },
}


@pytest.fixture(scope="module")
def generation(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Generation:
    folder = tmp_path_factory.mktemp("search")
    sources = write_corpus(folder / "articles", {**CORPUS, **EXTRA})
    settings = KnowledgeBaseSettings(
        index=IndexSettings(path=str(folder / "index"), sources=(str(sources),))
    )
    build_index(settings, embedder=embedder)
    return open_generation(Path(settings.index.path), embedder)


@pytest.fixture(scope="module")
def searcher(generation: Generation, embedder: Embedder) -> HybridSearcher:
    return HybridSearcher(generation, embedder, SearchSettings())


def _where(generation: Generation, paragraph_ids: list[int]) -> list[tuple[str, int]]:
    rows = {r.paragraph_id: r for r in generation.rows(paragraph_ids)}
    return [(rows[p].article_id, rows[p].number) for p in paragraph_ids]


def _dense_top(generation: Generation, embedder: Embedder, query: str) -> tuple[str, int]:
    _, found = generation.paragraph_index.search(embedder.embed_queries([query]), 1)
    return _where(generation, [int(found[0][0])])[0]


@pytest.mark.model
def test_lexical_evidence_wins_where_vectors_confuse_numbers(
    generation: Generation, searcher: HybridSearcher, embedder: Embedder
) -> None:
    query = "Which pump takes cartridge 7144?"
    assert _dense_top(generation, embedder, query) == ("pumps", 0)  # the 4471 paragraph
    hits = searcher.search(query, 3)
    assert (hits[0].ref.article_id, hits[0].ref.number) == ("pumps", 1)
    assert hits[0].signal("coverage") == pytest.approx(1.0)
    assert hits[0].signal("coverage") > hits[1].signal("coverage")


@pytest.mark.model
def test_semantic_evidence_wins_a_paraphrase_without_shared_words(
    generation: Generation, searcher: HybridSearcher
) -> None:
    query = "What makes naturally leavened loaves go up?"
    lexical_top = generation.lexical.search(query, 1)[0][0]
    assert _where(generation, [lexical_top]) == [("markets", 0)]  # "go up" in the stalls
    hits = searcher.search(query, 3)
    assert (hits[0].ref.article_id, hits[0].ref.number) == ("bread", 0)
    assert hits[0].signal("bm25") == 0.0 and hits[0].signal("dense") > 0.4


@pytest.mark.model
def test_the_article_title_decides_between_articles(
    generation: Generation, embedder: Embedder
) -> None:
    # Both finding paragraphs say "found the stone"; only the title says which stone.
    query = "When was the Rosetta Stone found?"

    def ranked(settings: SearchSettings) -> list[tuple[str, int]]:
        hits = HybridSearcher(generation, embedder, settings).search(query, 5)
        return [(h.ref.article_id, h.ref.number) for h in hits]

    titled = ranked(SearchSettings())
    blind = ranked(dataclasses.replace(SearchSettings(), title_weight=0.0))
    assert blind.index(("stele", 0)) < blind.index(("rosetta", 1))
    assert titled.index(("rosetta", 1)) < titled.index(("stele", 0))
    hit = HybridSearcher(generation, embedder, SearchSettings()).search(query, 5)[
        titled.index(("rosetta", 1))
    ]
    assert hit.signal("title_coverage") > 0 and hit.signal("title_phrase") > 0


@pytest.mark.model
def test_hits_carry_signals_and_scored_sentences(searcher: HybridSearcher) -> None:
    hits = searcher.search("How far can an owl turn its head?", 5)
    assert len(hits) == 5
    top = hits[0]
    assert (top.ref.article_id, top.ref.number) == ("owls", 2)
    assert [name for name, _ in top.signals] == list(SIGNALS)
    assert top.score == top.signal("fused")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert -1.0 <= top.signal("dense") <= 1.0 and 0.0 <= top.signal("coverage") <= 1.0
    # Sentences are in text order, cover the text, and the best one is the answer's.
    assert [top.ref.text[s.start : s.end] for s in top.sentences] == [
        "An owl can turn its head about 270 degrees.",
        "It cannot move its eyes, so it turns its whole head to follow prey.",
    ]
    best = max(top.sentences, key=lambda s: s.score)
    assert top.ref.text[best.start : best.end].startswith("An owl can turn")
    assert top.signal("sentence") == pytest.approx(best.score, abs=1e-5)


@pytest.mark.model
def test_fused_score_is_lower_for_a_question_the_corpus_cannot_answer(
    searcher: HybridSearcher,
) -> None:
    answerable = searcher.search("Why is sourdough bread sour?", 1)[0]
    unrelated = searcher.search("Who won the 1998 football world cup?", 1)[0]
    assert answerable.ref.article_id == "bread"
    assert unrelated.score < answerable.score - 3.0


@pytest.mark.model
def test_prior_brings_a_paragraph_into_the_results(
    generation: Generation, searcher: HybridSearcher
) -> None:
    query = "How do volcanoes erupt explosively?"
    plain = searcher.search(query, 2)
    assert all(h.ref.article_id == "volcanoes" for h in plain)
    row = generation.paragraph_row("pumps", 2)
    assert row is not None
    east_pump = row.paragraph_id
    boosted = searcher.search(query, 2, prior={east_pump: 100.0, 10**9: 100.0})
    assert boosted[0].ref.paragraph_id == east_pump
    assert boosted[0].signal("prior") == 100.0
    assert len(boosted) == 2  # the unknown id is ignored


@pytest.mark.model
def test_degenerate_queries(searcher: HybridSearcher) -> None:
    assert searcher.search("   ", 5) == []
    assert searcher.search("owls", 0) == []
    assert len(searcher.search("what is it?", 3)) == 3  # stop words only: dense still ranks
    assert len(searcher.search("owls", 100)) == sum(
        len(a["paragraphs"]) for a in {**CORPUS, **EXTRA}.values()  # type: ignore[arg-type]
    )


@pytest.mark.model
def test_stored_sentence_terms_rank_exactly_as_tokenizing_the_texts(
    generation: Generation, embedder: Embedder, tmp_path: Path
) -> None:
    # A generation written before migration 3 has no stored terms: its searches tokenize the
    # candidates' texts. Both ways must give the same hits with the same signals.
    old = tmp_path / "generations" / generation.generation
    shutil.copytree(generation.path, old)
    meta = old / META_NAME
    with sqlite3.connect(meta) as conn:
        conn.execute("ALTER TABLE sentences DROP COLUMN terms")
        conn.execute("DELETE FROM schema_migrations WHERE version = 3")
    conn.close()
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["files"][META_NAME] = meta.stat().st_size
    (old / "manifest.json").write_text(json.dumps(manifest))
    tokenizing = Generation.open(old, embedder)
    some = list(tokenizing.rows([1, 2, 3]))
    assert some and all(
        s.terms is None for group in tokenizing.sentences([r.paragraph_id for r in some]).values()
        for s in group
    )
    stored = generation.sentences([r.paragraph_id for r in some])
    assert all(s.terms for group in stored.values() for s in group)

    for query in ("How far can an owl turn its head?", "Which pump takes cartridge 7144?",
                  "sourdough bread", "Who found the basalt stone at Dhiban?"):
        new = HybridSearcher(generation, embedder, SearchSettings()).search(query, 5)
        before = HybridSearcher(tokenizing, embedder, SearchSettings()).search(query, 5)
        assert new == before
