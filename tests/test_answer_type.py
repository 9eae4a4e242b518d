"""What a question asks for, whether a sentence holds it, and near misses by number."""

from __future__ import annotations

import pytest

from bot.answer_type import asked, expected_kinds, holds, misses_kind, type_features
from bot.mismatch import missing_numbers


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("how long do worker bees live", "number"),
        ("how many died", "number"),
        ("When was the Rosetta Stone found?", "date"),
        ("what year did it open", "date"),
        ("Who won Super Bowl 50?", "person"),
        ("where was meza arrested", "place"),
        ("why did scotland free megrahi", "reason"),
        ("what did panetta say about the troops", "quote"),
        ("according to warren what's the pipeline about", "quote"),
    ],
)
def test_expected_kinds(question: str, kind: str) -> None:
    assert kind in expected_kinds(question)


def test_plain_what_questions_ask_for_no_particular_kind() -> None:
    assert expected_kinds("what is the stone made of") == ()
    # "what did X say" asks for X's words, not for a person.
    assert "person" not in expected_kinds("what did the doctor say")


@pytest.mark.parametrize(
    ("question", "right", "wrong"),
    [
        ("how long do worker bees live",
         "In summer a worker lives for only about five to six weeks.",
         "Worker bees change jobs as they age."),
        ("how many died", "Five bombs exploded in Casablanca, killing 42.",
         "Although no Jews died, the attacks shook the community."),
        ("when was it found", "French soldiers found it in July 1799.",
         "French soldiers found the stone near a fort."),
        ("Who won Super Bowl 50?", "The Denver Broncos defeated the Carolina Panthers.",
         "Super Bowl 50 featured numerous records."),
        ("why did the vote fail", "It failed because turnout was below 40%.",
         "The vote failed."),
        ("what did panetta say", "\"We will not fail,\" Panetta said.",
         "Panetta arrived in Kabul on Monday."),
    ],
)
def test_a_sentence_holding_the_kind_asked_for_scores_and_a_repeat_does_not(
    question: str, right: str, wrong: str
) -> None:
    what = asked(question)
    assert any(type_features(what, right))
    assert not any(type_features(what, wrong))


def test_the_questions_own_numbers_and_names_are_no_answer() -> None:
    what = asked("Who won Super Bowl 50?")
    assert not holds("person", "Super Bowl 50 was won.", what.words)
    assert not holds("number", "Super Bowl 50 was won.", asked("how many fans at super bowl 50").words)


def test_missing_numbers_find_near_misses_but_not_spellings_of_the_same_number() -> None:
    assert missing_numbers("Who won Super Bowl 51?", "Super Bowl 50 was played in 2016.") == ["51"]
    assert missing_numbers("heisman trophy in 1936", "In 1935 he won the Heisman.") == ["1936"]
    assert missing_numbers("was the rhine 1320 km long", "the Rhine is 1,320 km long") == []
    assert missing_numbers("why did it empty out in the 90s", "crime in the 1990s") == []
    assert missing_numbers("the big 5 animals", "the Big Five game animals") == []
    assert missing_numbers("who won", "anything") == []
    assert missing_numbers("who patented the hive? 2", "Langstroth patented it.") == []


def test_a_count_or_date_question_misses_its_kind_only_when_no_quote_holds_one() -> None:
    assert misses_kind("when did king bhumibol die",
                       "King Bhumibol Adulyadej has pardoned foreigners in similar cases.")
    assert not misses_kind("when did king bhumibol die", "The king died on 13 October 2016.")
    assert misses_kind("how many passengers were on the costa concordia",
                       "The Concordia is illuminated by salvage vessels.")
    assert not misses_kind("how many passengers were on the costa concordia",
                           "The ship carried 4,229 people, and thirty-two of them died.")
    # The question's own number is no answer to it.
    assert misses_kind("how many of the 33 miners were hurt", "The 33 miners were rescued.")
    # Any figure, ordinal, time expression or amount may answer.
    assert not misses_kind("when was the domus aurea built", "Nero built it in 64 AD.")
    assert not misses_kind("in what century did the normans arrive", "in the 10th century")
    assert not misses_kind("when did the sacrifices occur", "They were made in daylight.")
    assert not misses_kind("how long is the festival", "The week-long festival ends today.")
    assert not misses_kind("how many bridges were hit", "Several bridges were hit.")
    # Questions that ask for something else too, or for no checkable kind, are never judged.
    assert not misses_kind("who won and what was the score", "Murray won the final.")
    assert not misses_kind("what is the keystone pipeline", "It carries oil from Canada.")
    assert not misses_kind("when john fox left, who replaced him", "Gary Kubiak replaced him.")
    assert not misses_kind("when did they sign, and what did it say", "It said nothing new.")
