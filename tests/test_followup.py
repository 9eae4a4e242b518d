"""Follow-up detection and resolution against the conversation's history."""

from __future__ import annotations

import pytest

from collections.abc import Iterable

from bot.followup import blend, needs_history, prior_for, resolve
from bot.models import CitedParagraph, Conversation, Turn
from bot.question import stems

# Two articles: "storm" has paragraph ids 10..13, "election" 20..21.
ARTICLES = {"storm": [10, 11, 12, 13], "election": [20, 21]}
TEXTS = {
    "storm": "Hurricane Ida flooded Louisiana. The governor said the authorities sent the Guard. "
    "The power grid failed in New Orleans. He said his family was safe.",
    "election": "Georgia counted the presidential election votes twice. Biden won the state.",
}
# Document frequencies out of 100 paragraphs; other terms are unknown to the corpus.
DF = {"hurricane": 3, "ida": 2, "louisiana": 3, "georgia": 2, "presidential": 4, "election": 5,
      "won": 20, "damage": 10, "authority": 8, "respond": 9, "power": 15, "grid": 4, "family": 12,
      "2020": 6, "governor": 7, "volcano": 2, "erupt": 2, "merkel": 1, "angela": 1}


class FakeCorpus:
    def article_paragraph_ids(self, article_id: str) -> list[int]:
        return ARTICLES.get(article_id, [])

    def article_words(self, article_id: str) -> set[str]:
        return stems(TEXTS.get(article_id, ""))

    def term_weights(self, terms: Iterable[str]) -> dict[str, float]:
        import math

        return {t: math.log1p((100 - DF.get(t, 0) + 0.5) / (DF.get(t, 0) + 0.5)) for t in terms}

    def unseen_weight(self) -> float:
        return self.term_weights(["never-seen"])["never-seen"]


CORPUS = FakeCorpus()
ids = CORPUS.article_paragraph_ids


def conversation(*turns: tuple[str, list[tuple[int, str, int]]]) -> Conversation:
    conv = Conversation()
    for question, cited in turns:
        conv = conv.add(
            Turn(question, question, tuple(CitedParagraph(p, a, n) for p, a, n in cited)), 4
        )
    return conv


STORM = conversation(("What damage did Hurricane Ida cause in Louisiana?", [(11, "storm", 1)]))


@pytest.mark.parametrize(
    "question",
    [
        "What did he say about his family?",
        "And how did the authorities respond?",
        "What about the power grid?",
        "Why?",
        "for what?",
        "where was it?",
        "Who else?",
    ],
)
def test_questions_that_lean_on_history(question: str) -> None:
    assert needs_history(question)


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2020 presidential election in Georgia?",
        "How do volcanoes erupt?",
        "What did Angela Merkel say about the refugee crisis?",
    ],
)
def test_self_contained_questions(question: str) -> None:
    assert not needs_history(question)


def test_followup_is_expanded_with_the_previous_question_and_gets_a_prior() -> None:
    resolution = resolve("And how did the authorities respond?", STORM, CORPUS)
    assert resolution.followup
    assert resolution.query.startswith("And how did the authorities respond?")
    assert "Ida" in resolution.query and "Louisiana" in resolution.query
    prior = resolution.prior
    # The cited paragraph first, then the next one, then the rest of its article.
    assert prior[11] > prior[12] > prior[10] == prior[13] > 0
    assert set(prior) == {10, 11, 12, 13}


def test_new_topic_is_searched_alone() -> None:
    resolution = resolve("Who won the 2020 presidential election in Georgia?", STORM, CORPUS)
    assert not resolution.followup and resolution.new_topic
    assert resolution.query == "Who won the 2020 presidential election in Georgia?"
    assert resolution.prior == {}


def test_self_contained_question_on_the_same_topic_keeps_a_lighter_prior() -> None:
    resolution = resolve("Did the power grid fail in Louisiana?", STORM, CORPUS)
    assert resolution.followup and not resolution.new_topic
    assert resolution.query == "Did the power grid fail in Louisiana?"
    full = resolve("And the power grid?", STORM, CORPUS).prior
    assert 0 < resolution.prior[11] < full[11]


def test_what_about_a_new_name_continues_the_previous_question() -> None:
    resolution = resolve("What about Georgia?", STORM, CORPUS)
    assert resolution.followup
    assert "damage" in resolution.query and "Georgia" in resolution.query


def test_without_history_nothing_is_added() -> None:
    resolution = resolve("What did he say about his family?", Conversation(), CORPUS)
    assert not resolution.followup and resolution.prior == {}


def test_abstained_turns_are_skipped_for_the_last_cited_one() -> None:
    conv = STORM.add(Turn("What is the boiling point of mercury?", "x", (), abstained=True), 4)
    resolution = resolve("What did he say about his family?", conv, CORPUS)
    assert resolution.followup
    assert max(resolution.prior, key=resolution.prior.__getitem__) == 11


def test_older_turns_weigh_less() -> None:
    conv = conversation(
        ("What damage did Hurricane Ida cause?", [(11, "storm", 1)]),
        ("Who won the vote in the parish?", [(20, "election", 0)]),
    )
    prior = prior_for(conv, ids)
    assert prior[20] > prior[11]
    assert prior[11] > 0


def test_blend_averages_both_rankings_and_prefers_the_question_alone_hits() -> None:
    from index import Hit

    def hit(pid: int, score: float, tag: str) -> Hit:
        return Hit(paragraph_id=pid, article_id="a", title=tag, number=pid, text="t", score=score)

    alone = [hit(1, 10.0, "alone"), hit(2, 8.0, "alone")]
    expanded = [hit(2, 12.0, "expanded"), hit(3, 11.0, "expanded")]
    out = blend(alone, expanded, 10)
    assert [h.paragraph_id for h in out] == [1, 2, 3]
    assert [h.score for h in out] == [10.5, 10.0, 9.5]
    assert [h.title for h in out] == ["alone", "alone", "expanded"]
    assert [h.paragraph_id for h in blend(alone, expanded, 2)] == [1, 2]
    assert blend(alone, [], 1) == alone[:1] and blend([], expanded, 5) == expanded
