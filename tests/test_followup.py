"""Follow-up detection and resolution against the conversation's history."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pytest

from bot.followup import (
    FOCUS_BONUS,
    blend,
    names_in,
    needs_history,
    personal,
    points_back,
    prior_for,
    resolve,
)
from bot.followup_context import namesake, person, without_namesakes
from bot.followup_judge import answered_in_article, followup_evidence
from bot.followup_moves import (
    ABOUT,
    MORE,
    SPEAKER,
    Move,
    Return,
    attribution,
    move_of,
    return_to,
    speaker_sentence,
)
from bot.models import CitedParagraph, Conversation, Turn
from bot.question import question_terms, stems
from paragraphs import paragraph

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
      "2020": 6, "fail": 6, "governor": 7, "volcano": 2, "erupt": 2, "merkel": 1, "angela": 1,
      # Rarer than any whole count allows here: the words a new topic brings.
      "lava": 0.5, "caldera": 0.5}


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


def test_self_contained_question_on_the_same_topic_stays_on_the_article_unexpanded() -> None:
    resolution = resolve("Did the power grid fail in Louisiana?", STORM, CORPUS)
    assert resolution.followup and not resolution.new_topic and not resolution.refers
    assert resolution.query == "Did the power grid fail in Louisiana?"
    assert resolution.focus == ("storm",)
    # Every paragraph of the article is lifted above any retrieval score.
    assert min(resolution.prior[p] for p in ARTICLES["storm"]) >= FOCUS_BONUS


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
        return Hit(paragraph(pid, "t", number=pid, title=tag), score=score)

    alone = [hit(1, 10.0, "alone"), hit(2, 8.0, "alone")]
    expanded = [hit(2, 12.0, "expanded"), hit(3, 11.0, "expanded")]
    out = blend(alone, expanded, 10)
    assert [h.ref.paragraph_id for h in out] == [1, 2, 3]
    assert [h.score for h in out] == [10.5, 10.0, 9.5]
    assert [h.ref.title for h in out] == ["alone", "alone", "expanded"]
    assert [h.ref.paragraph_id for h in blend(alone, expanded, 2)] == [1, 2]
    assert blend(alone, [], 1) == alone[:1] and blend([], expanded, 5) == expanded


# --- conversational moves, names and pronouns ---------------------------------------------------


@pytest.mark.parametrize(
    ("question", "kind", "topic"),
    [
        ("tell me more", MORE, ""),
        ("What happened next?", MORE, ""),
        ("and after that?", MORE, ""),
        ("ok, go on", MORE, ""),
        ("who said that?", SPEAKER, ""),
        ("Whose words are those?", SPEAKER, ""),
        ("what is this article about?", ABOUT, ""),
        ("what's it about", ABOUT, ""),
        ("whats the story about the seizure dog about", ABOUT, "the seizure dog"),
        ("what's the article on comb jellies about?", ABOUT, "comb jellies"),
        ("summary of the ammonia leak story", ABOUT, "ammonia leak"),
        ("tell me about the road rage cop story", ABOUT, "road rage cop"),
    ],
)
def test_moves_are_recognized(question: str, kind: str, topic: str) -> None:
    assert move_of(question) == Move(kind, topic)


@pytest.mark.parametrize(
    "question",
    ["Who said that she needed a divorce?", "then what else?", "what was the score",
     "what is the name of the story", "Who won the 2020 presidential election in Georgia?"],
)
def test_ordinary_questions_make_no_move(question: str) -> None:
    assert move_of(question) is None


@pytest.mark.parametrize(
    ("question", "topic", "asked"),
    [
        ("ok back to the cruise ship - is anyone still missing?", "the cruise ship",
         "is anyone still missing?"),
        ("back to fort hood, how many were killed there", "fort hood",
         "how many were killed there"),
        ("going back to the storm what did he say", "the storm", "what did he say"),
        ("back to the peru thing: why did the court throw it out", "the peru",
         "why did the court throw it out"),
    ],
)
def test_back_to_splits_the_topic_from_the_question(question: str, topic: str, asked: str) -> None:
    assert return_to(question) == Return(topic, asked)
    assert return_to("what happened back then") is None


def test_names_are_runs_of_capitalized_words_not_sentence_openings() -> None:
    text = ("Luke Hancock was named the tournament's Most Outstanding Player. The Cardinals won. "
            "Summer's sisters sang with Natalie Grant.")
    assert names_in(text) == [
        "Luke Hancock", "Outstanding Player", "Cardinals", "Summer", "Natalie Grant"
    ]


def test_he_after_a_who_question_is_the_person_the_answer_named() -> None:
    conv = Conversation().add(
        Turn("Who responded to the storm?", "q", (CitedParagraph(12, "storm", 2),),
             answer="The governor sent Angela Merkel there."),
        4,
    )
    resolution = resolve("What did she say?", conv, CORPUS)
    assert resolution.refers and resolution.focus == ("storm",)
    assert resolution.context[:2] == ("Angela", "Merkel")


def test_he_otherwise_keeps_the_names_asked_about_first() -> None:
    conv = Conversation().add(
        Turn("What did Hurricane Ida do in Louisiana?", "q", (CitedParagraph(11, "storm", 1),),
             answer="The governor sent Angela Merkel there."),
        4,
    )
    context = resolve("What did he say?", conv, CORPUS).context
    assert context[:3] == ("Hurricane", "Ida", "Louisiana")


def test_a_move_is_resolved_against_the_conversations_article() -> None:
    resolution = resolve("tell me more", STORM, CORPUS)
    assert resolution.move == MORE and resolution.focus == ("storm",)
    assert resolve("tell me more", STORM, CORPUS, moves=False).move is None
    # Without a conversation there is nothing to tell more about; a named article still works.
    assert resolve("tell me more", Conversation(), CORPUS).move is None
    named = resolve("what's the hurricane ida story about", Conversation(), CORPUS)
    assert named.move == ABOUT and named.topic == "hurricane ida"


def test_back_to_an_earlier_article_stays_on_it() -> None:
    conv = conversation(
        ("What damage did Hurricane Ida cause?", [(11, "storm", 1)]),
        ("Who won the presidential election in Georgia?", [(20, "election", 0)]),
    )
    resolution = resolve("back to the hurricane - what did the governor say", conv, CORPUS)
    assert resolution.focus == ("storm",) and resolution.question == "what did the governor say"
    assert "hurricane" in resolution.query
    assert min(resolution.prior[p] for p in ARTICLES["storm"]) >= FOCUS_BONUS
    assert max(resolution.prior.get(p, 0.0) for p in ARTICLES["election"]) < FOCUS_BONUS


def test_one_new_rare_word_stays_a_follow_up_two_start_a_new_topic() -> None:
    assert not resolve("when did the lava come", STORM, CORPUS).new_topic
    assert resolve("how does lava fill a caldera", STORM, CORPUS).new_topic


# --- judging a follow-up in its article ----------------------------------------------------------


def evidence_for(question: str, sentence: str, article: str, dense: float = 0.3) -> bool:
    terms = question_terms(question, CORPUS.term_weights)
    fit = followup_evidence(terms, sentence, stems(article), dense)
    return answered_in_article(
        fit, points_back=points_back(question), certain=personal(question)
    )


def test_a_follow_up_pointing_back_is_answered_in_its_article() -> None:
    assert evidence_for("how old was he", "He died on Sunday, aged 60.", TEXTS["storm"])
    # "he" only has a meaning in the conversation, however strange its other words.
    assert evidence_for("is he zorry", "He said he would not apologise.", TEXTS["storm"])
    # "it" with words no paragraph holds points back at nothing.
    assert not evidence_for("what time is it in zokyo", "The power grid failed.", TEXTS["storm"])
    assert evidence_for("and the grid?", "The power grid failed.", TEXTS["storm"])


def test_a_self_contained_question_needs_its_words_in_the_paragraph() -> None:
    assert evidence_for("did the power grid fail", "The power grid failed in New Orleans.",
                        TEXTS["storm"])
    # A rare word the article lacks: another topic ("is coffee bad for you?").
    assert not evidence_for("did the volcano damage the grid", "The power grid failed.",
                            TEXTS["storm"])
    assert not evidence_for("how do volcanoes erupt", "The power grid failed.", TEXTS["storm"])
    # "its" refers to the owl the question names, not to the conversation.
    assert not evidence_for("how far can a volcano throw its lava", "The power grid failed.",
                            TEXTS["storm"])


def test_speaker_sentence_prefers_a_named_attribution() -> None:
    text = ('Governor Edwards spoke on Monday. "We will rebuild," he said. '
            '"It was awful," said resident Ann Lee. Power is back.')
    spans = [(m.start(), m.end()) for m in re.finditer(r'[^ ][^.]*\."?', text)]
    assert speaker_sentence(spans, text, spans[2]) == 2
    # "he said" names no one: the sentence before says who he is.
    assert speaker_sentence(spans, text, spans[1]) == 0
    # An unattributed sentence: the next quotation is someone else's, the one before is earlier.
    assert speaker_sentence(spans, text, spans[3]) == 2
    assert speaker_sentence(spans[:1], text, spans[0]) is None
    assert attribution("Power is back.") == 0 and attribution("he said.") == 1


def test_he_is_the_person_asked_about_and_namesakes_go_last() -> None:
    from index import Hit, SentenceSpan

    conv = Conversation().add(
        Turn("who was merkel", "q", (CitedParagraph(11, "storm", 1),),
             answer="Angela Merkel (born 1954) is a German politician."),
        4,
    )
    assert person("when did she retire", conv, CORPUS) == "Angela Merkel"
    assert person("when did it retire", conv, CORPUS) == ""
    assert namesake("Herlind Merkel was a teacher.", "Angela Merkel")
    assert not namesake("Merkel retired in 2021.", "Angela Merkel")
    assert not namesake("Chancellor Angela Merkel spoke.", "Angela Merkel")

    def hit(pid: int, text: str) -> Hit:
        return Hit(paragraph(pid, text, number=pid), score=1.0,
                   sentences=(SentenceSpan(0, len(text), 0.5),))

    ranked = without_namesakes([hit(1, "Herlind Merkel died in 2020."),
                                hit(2, "Merkel retired in 2021.")], "Angela Merkel")
    assert [h.ref.paragraph_id for h in ranked] == [2, 1]


def test_after_who_with_no_name_he_is_the_one_the_answer_names() -> None:
    conv = Conversation().add(
        Turn("who was their best player", "q", (CitedParagraph(11, "storm", 1),),
             answer="Merkel's teammate Angela Ida was named the best player."),
        4,
    )
    assert person("how many did she score", conv, CORPUS) == "Angela Ida"
