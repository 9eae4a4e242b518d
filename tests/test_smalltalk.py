"""Small talk: which whole messages are pleasantries, what is left of a question, the replies."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.models import Answer, Conversation, Quote, Reply
from bot.smalltalk import (
    GOODBYE,
    GREETING,
    HELP,
    THANKS,
    classify,
    small_talk,
    without_pleasantries,
)
from index import ArticleInfo


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("hi", GREETING),
        ("Hello!", GREETING),
        ("hey there", GREETING),
        ("good morning", GREETING),
        ("Good evening, citebot", GREETING),
        ("hiii 👋", GREETING),
        ("hello, how are you?", GREETING),
        ("anyone there?", GREETING),
        ("thanks", THANKS),
        ("thank you!", THANKS),
        ("Thank you so much!!", THANKS),
        ("thx, that helps", THANKS),
        ("great, thanks", THANKS),
        ("ok cool", THANKS),
        ("much appreciated", THANKS),
        ("what can you do?", HELP),
        ("help", HELP),
        ("How does this work", HELP),
        ("what are you", HELP),
        ("Who are you?", HELP),
        ("hi! what can you do?", HELP),
        ("what sort of topics do you cover", HELP),
        ("which articles are there", HELP),
        ("how do I use this bot?", HELP),
        ("bye", GOODBYE),
        ("ok, thanks, bye!", GOODBYE),
        ("see you later", GOODBYE),
        ("good night", GOODBYE),
    ],
)
def test_whole_messages_of_small_talk(message: str, kind: str) -> None:
    assert classify(message) == kind


@pytest.mark.parametrize(
    "question",
    [
        "hi, who discovered penicillin?",
        "thanks to whom was the war won?",
        "what can you tell me about the rosetta stone",
        "what do you know about the Rhine?",
        "how do you say thank you in japanese",
        "good recipe for banana bread?",
        "Good Morning America host",
        "who is this man?",
        "what does it say about his family?",
        "tell me more",
        "and after that?",
        "what's up with the Scottish Parliament",
        "Cheers was a sitcom, who starred in it?",
        "",
    ],
)
def test_questions_are_not_small_talk(question: str) -> None:
    assert classify(question) is None


@pytest.mark.parametrize(
    ("message", "question"),
    [
        ("hi, who discovered penicillin?", "who discovered penicillin?"),
        ("Hello there! When was the Rosetta Stone found?", "When was the Rosetta Stone found?"),
        ("hi who won the final", "who won the final"),
        ("Hi… ﬁrst, who won the final?", "ﬁrst, who won the final?"),
        ("ＨＥＬＬＯ! who won?", "who won?"),
        ("Who discovered penicillin? Thanks!", "Who discovered penicillin?"),
        ("who won the final, thx", "who won the final"),
        ("Thanks. What about the second one?", "What about the second one?"),
        # The "and" that makes it a follow-up stays.
        ("ok, and when did it open?", "and when did it open?"),
        # Nothing marks the pleasantry off, or it is part of the question: left as it is.
        ("thanks to whom was the war won?", "thanks to whom was the war won?"),
        ("Good Morning America host", "Good Morning America host"),
        ("great britain, what is its capital", "great britain, what is its capital"),
        ("when did it happen in the morning?", "when did it happen in the morning?"),
        ("hi", "hi"),
    ],
)
def test_pleasantries_around_a_question_are_taken_off(message: str, question: str) -> None:
    assert without_pleasantries(message) == question


class Library:
    """The engine as small talk sees it: latest articles, and which questions get answered."""

    def __init__(self, titles: Sequence[str], answered: Sequence[str] = ()) -> None:
        self.articles = [ArticleInfo(f"a{i}", t, None, None, 3) for i, t in enumerate(titles)]
        self.answered = set(answered)
        self.asked: list[str] = []

    def latest_articles(self, n: int) -> Sequence[ArticleInfo]:
        return self.articles[:n]

    def ask(self, question: str, conversation: Conversation = Conversation()) -> Reply:
        self.asked.append(question)
        if any(title in question for title in self.answered):
            answer = Answer(question, abstained=False, quotes=(Quote("Yes.", 1),))
        else:
            answer = Answer(question, abstained=True)
        return Reply(answer, conversation)


def test_help_names_the_latest_articles_and_an_example_they_answer() -> None:
    library = Library(
        ["How a Honeybee Colony Works", "The Rosetta Stone", "Penicillin", "The Bicycle"],
        answered=["Penicillin", "Rosetta"],
    )
    answer = small_talk("what can you do?", library)
    assert answer is not None and answer.kind == HELP
    assert answer.citations == () and answer.quotes == () and not answer.abstained
    # Newest first, a topic-like title before a "How …" one, and only one the articles answer.
    named = "“How a Honeybee Colony Works”, “The Rosetta Stone” and “Penicillin”"
    assert named in answer.message
    assert answer.message.endswith("“What do the articles say about the Rosetta Stone?”")
    assert answer.to_json()["answer"] == answer.message
    assert answer.to_json()["kind"] == HELP
    # Worked out once while the latest articles stay the same.
    asked = len(library.asked)
    assert small_talk("hello", library) is not None
    assert len(library.asked) == asked


def test_no_example_when_the_articles_answer_none() -> None:
    library = Library(["Owls"])
    greeting = small_talk("hi", library)
    assert greeting is not None and greeting.kind == GREETING
    assert "For example" not in greeting.message
    empty = small_talk("help", Library([]))
    assert empty is not None and "latest" not in empty.message


def test_thanks_and_goodbye_need_no_articles() -> None:
    library = Library(["Owls"], answered=["Owls"])
    thanks = small_talk("thanks!", library)
    bye = small_talk("bye", library)
    assert thanks is not None and thanks.kind == THANKS and "welcome" in thanks.message
    assert bye is not None and bye.kind == GOODBYE
    assert library.asked == []
    assert small_talk("who discovered penicillin?", library) is None
