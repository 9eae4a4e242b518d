"""Merging short fragments, splitting long paragraphs, and the whole ingest pipeline."""

from __future__ import annotations

from pathlib import Path

from index.ingest import read_articles
from index.models import Block, Document
from index.settings import SplitSettings
from index.split import RESERVED_TOKENS, split_document, split_text

ROOT = Path(__file__).parent.parent
SETTINGS = SplitSettings(min_chars=40)


def words(text: str) -> int:
    return len(text.split())


def with_specials(text: str) -> int:
    # Like a real tokenizer: every call adds [CLS] and [SEP].
    return len(text.split()) + 2


def document(*blocks: Block, verbatim: bool = False) -> Document:
    return Document("art", "A Title", "art.txt", blocks, url="https://e.org/a", date="2024", verbatim=verbatim)


LONG_A = "The first real paragraph is comfortably longer than forty characters."
LONG_B = "The second real paragraph is also comfortably longer than forty characters."


def test_short_fragments_merge_forward_or_back_within_their_section() -> None:
    doc = document(
        Block("Subheading"), Block(LONG_A), Block(LONG_B), Block("A last note."),
        Block("Lonely label", section="Other"),
    )
    article = split_document(doc, SETTINGS, words, 256)
    assert [(p.number, p.text, p.section) for p in article.paragraphs] == [
        (0, "Subheading\n" + LONG_A, None),
        (1, LONG_B + "\nA last note.", None),
        (2, "Lonely label", "Other"),
    ]
    assert (article.article_id, article.title, article.url, article.date, article.source) == (
        "art", "A Title", "https://e.org/a", "2024", "art.txt"
    )


def test_long_paragraph_splits_at_sentences_into_balanced_pieces() -> None:
    sentence_list = [f"Sentence number {i} has exactly seven words." for i in range(30)]
    text = " ".join(sentence_list)
    max_tokens = RESERVED_TOKENS + 100
    article = split_document(document(Block(text)), SETTINGS, words, max_tokens)
    pieces = [p.text for p in article.paragraphs]
    # 210 words at 100 per piece: three pieces of 10 sentences, not 100 + 100 + 10.
    assert [words(p) for p in pieces] == [70, 70, 70]
    assert " ".join(pieces) == text
    assert all(piece.endswith(".") for piece in pieces)
    assert [p.number for p in article.paragraphs] == [0, 1, 2]


def test_settings_max_tokens_caps_the_model_limit() -> None:
    text = " ".join(f"Sentence {i} is here." for i in range(40))
    settings = SplitSettings(min_chars=40, max_tokens=RESERVED_TOKENS + 40)
    pieces = [p.text for p in split_document(document(Block(text)), settings, words, 512).paragraphs]
    assert len(pieces) == 4 and all(words(p) <= 40 for p in pieces)


def test_hundred_thousand_chars_without_full_stop_is_split_not_truncated() -> None:
    text = " ".join(f"w{i}" for i in range(25_000))
    assert len(text) > 100_000 and "." not in text
    pieces = split_text(text, with_specials, 200)
    assert all(with_specials(piece) <= 200 for piece in pieces)
    assert " ".join(pieces).split() == text.split()


def test_over_long_sentence_prefers_clause_boundaries() -> None:
    clauses = [f"clause {i} has a handful of words in it" for i in range(12)]
    text = ", ".join(clauses) + "."
    pieces = split_text(text, words, 30)
    assert all(words(piece) <= 30 for piece in pieces)
    assert all(piece.endswith((",", ".")) for piece in pieces)
    assert " ".join(pieces) == text


def test_a_single_huge_token_is_cut_into_characters() -> None:
    blob = "x" * 5000
    pieces = split_text(blob, lambda t: len(t) // 100 + 1, 10)
    assert "".join(pieces) == blob and all(len(p) // 100 + 1 <= 10 for p in pieces)


def test_verbatim_paragraphs_are_kept_one_to_one_even_when_long() -> None:
    given = ["Tiny.", "word " * 1000, "", "Last."]
    article = split_document(document(*(Block(t) for t in given), verbatim=True), SETTINGS, words, 64)
    assert [p.text for p in article.paragraphs] == given
    assert [p.number for p in article.paragraphs] == [0, 1, 2, 3]


def test_read_articles_skips_articles_emptied_by_cleaning(tmp_path: Path) -> None:
    (tmp_path / "only-boilerplate.txt").write_text(
        "Skip To Content\n\nRepublish This Story\n\nWe don't support Internet Explorer\n"
    )
    (tmp_path / "real.md").write_text("# Real\n\n" + LONG_A + "\n\n" + LONG_B + "\n")
    articles, skipped = read_articles([tmp_path], SETTINGS, words, 256)
    assert [a.article_id for a in articles] == ["real"]
    assert [p.text for p in articles[0].paragraphs] == [LONG_A, LONG_B]
    assert len(skipped) == 1 and skipped[0].path == str(tmp_path / "only-boilerplate.txt")
    assert "no text left" in skipped[0].reason


def test_example_articles_read_cleanly() -> None:
    articles, skipped = read_articles([ROOT / "examples" / "articles"], SplitSettings(), with_specials, 256)
    assert skipped == ()
    by_id = {a.article_id: a for a in articles}
    assert set(by_id) == {
        "forward-morocco-relations-2003", "rosetta-stone", "honeybees",
        "history-of-the-bicycle", "discovery-of-penicillin",
    }
    forward = by_id["forward-morocco-relations-2003"]
    assert forward.title == "Morocco Considering Renewed Relations"
    assert forward.paragraphs[0].text.startswith("Morocco and Israel are mulling")
    assert "republish" not in " ".join(p.text for p in forward.paragraphs).lower()
    for article in articles:
        assert 5 <= len(article.paragraphs) <= 40
        assert all(with_specials(p.text) <= 256 - RESERVED_TOKENS for p in article.paragraphs)
