"""Terminal rendering: quotation marks, small talk, wrapping at the terminal's width."""

from __future__ import annotations

import io

import pytest

from bot.models import Answer, Citation, Quote
from bot.render import ABSTENTION, quoted, render_answer, terminal_width
from paragraphs import paragraph

LONG = (
    "The Austrian zoologist Karl von Frisch worked out the meaning of the dance, which tells "
    "the other foragers the direction and distance of a patch of flowers, in the 1940s; see "
    "https://example.org/a-very-long-address-that-must-not-be-broken-anywhere-at-all for more."
)


def _answer(*texts: str) -> Answer:
    citations = tuple(
        Citation(n=i, ref=paragraph(i, t, article_id="bees", title="Bees"), score=1.0)
        for i, t in enumerate(texts, start=1)
    )
    quotes = tuple(Quote(t, i) for i, t in enumerate(texts, start=1))
    return Answer("q", abstained=False, quotes=quotes, citations=citations)


@pytest.mark.parametrize(
    ("sentence", "shown"),
    [
        ("Bees dance.", "“Bees dance.”"),
        ("He called it “a miracle” and left.", "“He called it “a miracle” and left.”"),
        ("He said: “We trained the model.”", "He said: “We trained the model.”"),
        ("“The relationship has come out of the closet,” he said.",
         "“The relationship has come out of the closet,” he said."),
        ('"We trained the model."', '"We trained the model."'),
        ("«Oui», dit-il.", "«Oui», dit-il."),
    ],
)
def test_a_sentence_with_its_own_quotation_marks_is_not_quoted_twice(
    sentence: str, shown: str
) -> None:
    assert quoted(sentence) == shown
    assert shown.count(sentence) == 1  # still verbatim
    rendered = render_answer(_answer(sentence))
    assert "””" not in rendered and "““" not in rendered


def test_small_talk_is_plain_text_without_sources() -> None:
    hello = Answer("hi", abstained=False, reply_kind="greeting", message="Hello! " + LONG)
    text = render_answer(hello)
    assert text == "Hello! " + LONG
    assert "Sources" not in text and "[1]" not in text
    assert render_answer(Answer("x", abstained=True)) == ABSTENTION


@pytest.mark.parametrize("width", [40, 80, 88])
def test_wrapped_between_words_at_the_given_width(width: int) -> None:
    text = render_answer(_answer(LONG, "Bees dance."), width)
    body = text.split("\n\nSources:")[0]
    words = body.split()
    for line in body.splitlines():
        # Only a word longer than the width may stick out, and it is never broken.
        assert len(line) <= width or " " not in line
    assert words == f"“{LONG}” [1] “Bees dance.” [2]".split()
    # Neither broken inside nor at its hyphens.
    assert "https://example.org/a-very-long-address-that-must-not-be-broken-anywhere-at-all" in body


def test_not_wrapped_at_width_zero() -> None:
    text = render_answer(_answer(LONG), 0)
    assert text.splitlines()[0] == f"“{LONG}” [1]"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_width_follows_the_terminal_and_is_zero_for_pipes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "72")
    assert terminal_width(_Terminal()) == 72
    monkeypatch.setenv("COLUMNS", "5")
    assert terminal_width(_Terminal()) == 20  # a bogus tiny size is not taken literally
    assert terminal_width(io.StringIO()) == 0
