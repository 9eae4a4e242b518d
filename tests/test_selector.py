"""The answer selector: the shipped model reads answers, and its scores choose the paragraph."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.compose import compose
from bot.question import question_terms
from bot.selector import AnswerSelector
from index import Hit, SentenceSpan
from paragraphs import paragraph

SELECTOR = AnswerSelector()


def _hit(pid: int, text: str, score: float, spans: Sequence[tuple[int, int]] = ()) -> Hit:
    spans = spans or [(0, len(text))]
    return Hit(paragraph(pid, text, article_id=f"a{pid}", number=pid, title="T"), score=score,
               sentences=tuple(SentenceSpan(a, b, 0.5) for a, b in spans))


@pytest.mark.skipif(not SELECTOR.available(), reason="selector model not in this checkout")
@pytest.mark.parametrize(
    ("question", "answer", "other"),
    [
        ("how long do worker bees live",
         "In summer a worker lives for only about five to six weeks.",
         "Worker bees change jobs as they age."),
        ("who won super bowl 50",
         "The Denver Broncos defeated the Carolina Panthers 24-10 to win Super Bowl 50.",
         "Super Bowl 50 featured numerous records."),
        ("why was he let out of prison",
         "He was released on compassionate grounds because he was dying of cancer.",
         "He was born in Tripoli in 1952 and worked for the airline."),
    ],
)
def test_the_shipped_selector_prefers_the_answering_sentence(
    question: str, answer: str, other: str
) -> None:
    good, bad = SELECTOR.scores(question, [answer, other])
    assert good > bad
    assert SELECTOR.scores(question, []) == []


class _Fake:
    """A selector that likes sentences holding a word."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.read: list[str] = []

    def scores(self, question: str, sentences: Sequence[str]) -> list[float]:
        self.read += sentences
        return [5.0 if self.word in s else 0.0 for s in sentences]


def test_the_best_read_sentence_decides_the_paragraph_and_the_quote() -> None:
    first = "Bees are insects. Bees live in hives."
    second = "A worker lives six weeks. Workers fly far."
    hits = [_hit(1, first, 10.0, [(0, 17), (18, len(first))]),
            _hit(2, second, 9.8, [(0, 25), (26, len(second))])]
    terms = question_terms("how long do bees live")
    plain = compose(terms, hits)
    assert plain.citations[0].ref.paragraph_id == 1
    chosen = compose(terms, hits, selector=_Fake("six weeks"))
    assert chosen.citations[0].ref.paragraph_id == 2
    assert chosen.quotes[0].text == "A worker lives six weeks."


def test_a_far_weaker_paragraph_is_not_read_into_first_place() -> None:
    hits = [_hit(1, "Bees live in hives.", 20.0), _hit(2, "A worker lives six weeks.", 5.0)]
    fake = _Fake("six weeks")
    draft = compose(question_terms("how long do bees live"), hits, selector=fake)
    # Retrieval 15 log-odds behind outweighs the selector's 5.
    assert draft.citations[0].ref.paragraph_id == 1
    assert fake.read  # both were read
