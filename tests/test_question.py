"""Question analysis: normalization, content terms, names and weights."""

from __future__ import annotations

from collections.abc import Iterable

from bot.question import (
    CONTEXT_WEIGHT,
    MAX_QUESTION_CHARS,
    content_stems,
    entities,
    has_words,
    normalize_question,
    question_terms,
    unseen_weight,
)


def weights(terms: Iterable[str]) -> dict[str, float]:
    known = {"merkel": 6.0, "refugee": 4.0, "crisis": 3.0, "governor": 2.0}
    return {t: known.get(t, 9.0) for t in terms}


def test_normalize_collapses_whitespace_and_caps_length() -> None:
    assert normalize_question("  What\n did\tshe   say? ") == "What did she say?"
    long = normalize_question("word " * 400)
    assert len(long) <= MAX_QUESTION_CHARS and not long.endswith(" ") and long.endswith("word")


def test_has_words() -> None:
    assert has_words("Why?") and has_words("2024")
    assert not has_words("") and not has_words("🤔 ?! …")


def test_content_terms_skip_question_scaffolding() -> None:
    assert content_stems("What did Angela Merkel say about the refugee crisis?") == [
        "angela", "merkel", "refugee", "crisis"
    ]
    assert content_stems("What did he say about it?") == []


def test_entities_are_names_and_numbers_not_the_first_word() -> None:
    assert entities("Who won the 2020 election in Georgia?") == ["2020", "georgia"]
    assert entities("Owls hunt at night") == []


def test_question_terms_weigh_carried_over_context_less() -> None:
    terms = question_terms("What did Merkel say about the refugee crisis?", weights,
                           context=["Governor", "Merkel"])
    assert terms.terms == ("merkel", "refugee", "crisis", "governor")
    assert terms.weights == (6.0, 4.0, 3.0, CONTEXT_WEIGHT * 2.0)
    assert terms.entities == ("merkel",)
    assert terms.coverage({"merkel", "governor"}) == (6.0 + 0.6) / 13.6
    assert unseen_weight(weights) == 9.0
    assert terms.unseen == 9.0 and not terms.unknown("merkel")
    assert question_terms("Who is Scholz?", weights).unknown("scholz")
