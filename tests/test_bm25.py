"""The lexical index: tokenization, BM25 ranking, query terms and persistence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.bm25 import LexicalIndex, tokenize
from index.lexical_tokens import sentence_terms, stem

TEXTS = [
    "Owls hunt small mammals at night with silent flight.",
    "The snowy owl hunted lemmings in the Arctic tundra.",
    "Sourdough bread rises with wild yeast and lactic acid bacteria.",
    "Bakers score the loaf before baking it in a very hot oven.",
]
IDS = [40, 7, 23, 11]


@pytest.fixture
def index() -> LexicalIndex:
    return LexicalIndex.build(TEXTS, IDS)


def test_tokenize_lowercases_unicode_words_drops_stop_words_and_stems() -> None:
    assert tokenize("The Owls were hunting in Zürich's CAFÉS!") == ["owl", "hunt", "zürich", "s", "café"]
    assert tokenize("What is it?") == []


@pytest.mark.parametrize(
    ("word", "expected"),
    [("studies", "study"), ("hoped", "hope"), ("stopped", "stop"), ("running", "run"),
     ("glasses", "glass"), ("status", "status"), ("analysis", "analysis"), ("bus", "bus"),
     ("red", "red"), ("sing", "sing"), ("1990s", "1990s")],
)
def test_stem_strips_only_inflections(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_stem_joins_ery_nouns_to_their_er_root() -> None:
    assert stem("discovery") == stem("discoveries") == stem("discovered") == "discover"
    assert stem("delivery") == stem("delivering") == "deliver"
    for short in ("very", "every", "celery", "query"):
        assert stem(short) == short


def test_sentence_terms_match_tokenize_per_span() -> None:
    text = "Owls hunt at night. Bakers score loaves."
    assert sentence_terms(text, [(0, 19), (20, len(text))]) == [tokenize(text[:19]), tokenize(text[20:])]


def test_search_ranks_by_matching_terms_and_returns_ids(index: LexicalIndex) -> None:
    results = index.search("owls hunting lemmings", 10)
    assert [pid for pid, _ in results] == [7, 40]  # both mention owls hunting; only 7 lemmings
    assert results[0][1] > results[1][1] > 0
    assert index.search("quantum chromodynamics", 5) == []
    assert index.search("owl", 0) == []


def test_rare_terms_outweigh_common_ones() -> None:
    texts = ["river bank river", "river bank", "river water", "money bank vault"]
    index = LexicalIndex.build(texts, [1, 2, 3, 4])
    # "vault" occurs once in the corpus, "river" three times: the vault paragraph wins.
    assert index.search("river vault", 1)[0][0] == 4


def test_score_follows_the_given_ids(index: LexicalIndex) -> None:
    scores = index.score("sourdough loaf", [11, 999, 23, 40])
    assert scores.dtype == np.float32
    assert scores[0] > 0 and scores[2] > 0
    assert scores[1] == 0 and scores[3] == 0
    full = dict(index.search("sourdough loaf", 10))
    assert scores[0] == pytest.approx(full[11]) and scores[2] == pytest.approx(full[23])


def test_query_terms_carry_idf_and_adjacent_pairs(index: LexicalIndex) -> None:
    terms = index.query_terms("Where do owls hunt owls, and what is a narwhal?")
    assert terms.terms == ("owl", "hunt", "narwhal")
    owl, hunt, narwhal = terms.idf.tolist()
    assert narwhal > hunt > 0  # an unseen term weighs most; "hunt" is in 2 of 4, "owl" too
    assert owl == pytest.approx(hunt)
    assert terms.bigrams == (("owl", "hunt"), ("hunt", "owl"), ("owl", "narwhal"))
    assert terms.bigram_idf[0] == pytest.approx(owl + hunt)
    assert terms.mass == pytest.approx(owl + hunt + narwhal)


def test_save_and_load_round_trip(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    for query in ("owls hunting", "bread yeast", "hot oven loaf", "nothing matches"):
        assert loaded.search(query, 10) == index.search(query, 10)
    np.testing.assert_array_equal(loaded.score("owl", IDS), index.score("owl", IDS))
    assert (loaded.k1, loaded.b) == (index.k1, index.b)


def test_load_refuses_another_tokenizer_version(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    params["tokenizer"] += 1
    (tmp_path / "params.json").write_text(json.dumps(params))
    with pytest.raises(ValueError, match="tokenizer"):
        LexicalIndex.load(tmp_path)


def test_load_refuses_inconsistent_files(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path)
    np.save(tmp_path / "rows.npy", np.zeros(3, dtype=np.int32))
    with pytest.raises(ValueError, match="inconsistent"):
        LexicalIndex.load(tmp_path)


def test_empty_index_searches_to_nothing(tmp_path: Path) -> None:
    empty = LexicalIndex.build([], [])
    empty.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert len(loaded) == 0
    assert loaded.search("owl", 5) == []
    assert loaded.score("owl", [1, 2]).tolist() == [0.0, 0.0]


def test_build_rejects_mismatched_ids() -> None:
    with pytest.raises(ValueError):
        LexicalIndex.build(["one", "two"], [1])


@pytest.mark.parametrize("size", [1_000, 300_000])
@pytest.mark.parametrize("k", [1, 40, 5_000])
def test_top_is_the_best_k_with_ties_cut_by_lower_id(size: int, k: int) -> None:
    rng = np.random.default_rng(size + k)
    # Few distinct values, many zeros: ties straddle the cut, as with paragraphs of equal length
    # holding the same query terms; above 65,536 rows the sampled bound is used.
    scores = np.round(rng.exponential(1.0, size), 1).astype(np.float32)
    scores[rng.random(size) < 0.6] = 0.0
    ids = rng.permutation(size * 3)[:size].astype(np.int64)
    index = LexicalIndex(ids, np.ones(size, dtype=np.float32), [], np.zeros(1, dtype=np.int64),
                         np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
    positive = np.flatnonzero(scores > 0)
    expected = positive[np.lexsort((ids[positive], -scores[positive]))][:k]
    assert index.top(scores, k) == [(int(ids[i]), float(scores[i])) for i in expected]
    assert index.top(scores, 0) == [] and index.top(np.zeros(size, dtype=np.float32), k) == []
