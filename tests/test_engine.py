"""The answering engine end to end, with the real packaged model on a small news corpus."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.models import Answer, Conversation
from bot.render import ABSTENTION, NO_QUESTION, render_answer
from bot.settings import Settings
from index import Embedder, IndexSettings, build_index, open_knowledge_base, sentence_spans
from conftest import CORPUS, write_corpus

WIRE = (
    "Rescue crews in Louisiana pulled dozens of people from flooded homes on Monday after "
    "Hurricane Ida knocked out power to more than a million customers. Officials said the "
    "levees around New Orleans had held."
)

NEWS: dict[str, dict[str, object]] = {
    **CORPUS,
    "storm": {
        "id": "storm",
        "title": "Hurricane Ida batters Louisiana",
        "date": "2021-08-30",
        "url": "https://news.example/storm",
        "paragraphs": [
            "Hurricane Ida made landfall near Port Fourchon on Sunday as a Category 4 storm, "
            "tearing roofs off buildings and flooding coastal towns across southern Louisiana.",
            "Governor John Bel Edwards said the damage was catastrophic and that recovery would "
            "take weeks. He said his own family had evacuated to Baton Rouge before the storm hit "
            "and were safe.",
            "The authorities responded by sending 5,000 National Guard soldiers and opening "
            "shelters in school gyms. The Coast Guard flew rescue helicopters over flooded "
            "neighbourhoods through the night.",
            WIRE,
        ],
    },
    "wire": {
        "id": "wire",
        "title": "Ida: rescues continue",
        "date": "2021-08-31",
        "paragraphs": [
            WIRE + " Reporting by the news desk.",
            "Power companies warned that some neighbourhoods could stay dark for three weeks "
            "while crews rebuild damaged transmission towers.",
        ],
    },
    "football": {
        "id": "football",
        "title": "Striker signs new contract",
        "date": "2021-07-02",
        "paragraphs": [
            "The striker Marco Silva signed a four-year contract with Porto on Friday, ending "
            "months of talks with the club about his future.",
            "Silva said he wanted to stay close to his family in the city, and that his children "
            "had settled at school there.",
        ],
    },
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Engine:
    root = tmp_path_factory.mktemp("engine")
    corpus = write_corpus(root / "articles", NEWS)
    settings = Settings(index=IndexSettings(path=str(root / "index"), sources=(str(corpus),)))
    build_index(settings.knowledge_base, embedder=embedder)
    return Engine(settings, open_knowledge_base(settings.knowledge_base, embedder))


def check_answer(answer: Answer) -> None:
    """Every quote is verbatim in its cited paragraph and every marker names a listed source."""
    numbers = [c.n for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    by_n = {c.n: c for c in answer.citations}
    for quote in answer.quotes:
        assert quote.citation in by_n
        assert quote.text and quote.text in by_n[quote.citation].ref.text
    for citation in answer.citations:
        spans = [citation.ref.text[s:e] for s, e in citation.quotes]
        assert spans == [q.text for q in answer.quotes if q.citation == citation.n]
    rendered = render_answer(answer)
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", rendered)}
    assert markers == set(by_n)
    if answer.abstained:
        assert answer.citations == () and answer.quotes == ()
        assert rendered in (ABSTENTION, NO_QUESTION)


def corpus_questions() -> list[str]:
    """Questions generated from every sentence of the corpus, plus a few written ones."""
    questions = []
    for record in NEWS.values():
        for text in record["paragraphs"]:  # type: ignore[union-attr]
            for start, end in sentence_spans(str(text)):
                words = re.findall(r"\w+", str(text)[start:end])
                questions.append("What about " + " ".join(words[:7]) + "?")
                questions.append(" ".join(words[-6:]) + "?")
    return questions + [
        "How far can an owl turn its head?",
        "Why is sourdough bread sour?",
        "",
        "🤔🤔",
        "   and   ",
    ]


def test_answers_are_verbatim_and_citations_consistent(engine: Engine) -> None:
    questions = corpus_questions()
    answered = 0
    for question in questions:
        answer = engine.ask(question).answer
        check_answer(answer)
        answered += not answer.abstained
    assert answered > len(questions) // 2


def test_answers_the_question_from_the_right_paragraph(engine: Engine) -> None:
    answer = engine.ask("How far can an owl turn its head?").answer
    assert not answer.abstained
    assert (answer.citations[0].ref.article_id, answer.citations[0].ref.number) == ("owls", 2)
    assert "270 degrees" in answer.quotes[0].text
    assert answer.citations[0].ref.title == "Owls of the northern forests"
    assert answer.citations[0].ref.date == "2024-03-01"


@pytest.mark.parametrize(
    "question",
    ["What is the boiling point of mercury?", "Who won the 2018 FIFA World Cup?",
     "How do I change a car tyre?"],
)
def test_abstains_on_off_topic_questions(engine: Engine, question: str) -> None:
    answer = engine.ask(question).answer
    assert answer.abstained
    assert answer.citations == () and answer.quotes == ()
    assert render_answer(answer) == ABSTENTION


def test_empty_or_emoji_questions_get_a_polite_answer_without_search(engine: Engine) -> None:
    for question in ("", "   ", "🤔🤔 ?!"):
        trace = engine.trace(question)
        assert trace.hits == () and trace.reply.answer.abstained
        assert render_answer(trace.reply.answer) == NO_QUESTION
        assert trace.reply.conversation == Conversation()


def test_long_questions_are_capped(engine: Engine) -> None:
    answer = engine.ask("owls " * 600).answer
    assert len(answer.question) <= 1000


def test_follow_up_is_resolved_through_the_conversation(engine: Engine) -> None:
    first = engine.ask("What did Governor John Bel Edwards say about the hurricane damage?")
    assert not first.answer.abstained
    assert first.answer.citations[0].ref.article_id == "storm"
    follow = engine.ask("What did he say about his family?", first.conversation)
    assert not follow.answer.abstained
    top = follow.answer.citations[0]
    assert (top.ref.article_id, top.ref.number) == ("storm", 1)
    assert "family" in follow.answer.text
    # Asked on its own, the same words fit the footballer's paragraph better.
    alone = engine.ask("What did he say about his family?").answer
    assert alone.abstained or alone.citations[0].ref.article_id != "storm"
    assert [t.question for t in follow.conversation.turns] == [
        "What did Governor John Bel Edwards say about the hurricane damage?",
        "What did he say about his family?",
    ]


def test_and_follow_up_moves_to_the_next_paragraph(engine: Engine) -> None:
    first = engine.ask("What did Governor John Bel Edwards say about the hurricane damage?")
    follow = engine.ask("And how did the authorities respond?", first.conversation)
    assert not follow.answer.abstained
    top = follow.answer.citations[0]
    assert (top.ref.article_id, top.ref.number) == ("storm", 2)


def test_new_topic_is_not_dragged_back(engine: Engine) -> None:
    first = engine.ask("What did Governor John Bel Edwards say about the hurricane damage?")
    switch = engine.ask("How does a long cold fermentation change sourdough bread?",
                        first.conversation)
    assert not switch.answer.abstained
    assert switch.answer.citations[0].ref.article_id == "bread"


def test_near_duplicate_paragraphs_are_cited_once(engine: Engine) -> None:
    answer = engine.ask("How many people did rescue crews pull from flooded homes in Louisiana?").answer
    assert not answer.abstained
    sources = [(c.ref.article_id, c.ref.number) for c in answer.citations + answer.more]
    wire_copies = [s for s in sources if s in {("storm", 3), ("wire", 0)}]
    assert len(wire_copies) == 1


def test_concurrent_questions_give_the_same_answers(engine: Engine) -> None:
    questions = ["How far can an owl turn its head?", "Why is sourdough bread sour?",
                 "Why does magma rise?", "What is the boiling point of mercury?"] * 3
    expected = {q: engine.ask(q).answer for q in set(questions)}
    results: dict[int, Answer] = {}

    def worker(i: int, question: str) -> None:
        results[i] = engine.ask(question).answer

    threads = [threading.Thread(target=worker, args=(i, q)) for i, q in enumerate(questions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, question in enumerate(questions):
        assert results[i].to_json() == expected[question].to_json()


def test_lookups_and_refresh(engine: Engine, tmp_path: Path) -> None:
    paragraph = engine.paragraph("storm", 1)
    assert paragraph is not None and paragraph.text.startswith("Governor John Bel Edwards")
    assert engine.paragraph("storm", 99) is None
    stats = engine.stats()
    assert stats.articles == len(NEWS)
    latest = engine.latest_articles(2)
    assert [a.article_id for a in latest] == ["bread", "owls"]
    assert engine.refresh() is False


def test_small_talk_gets_its_own_reply_without_search_or_citations(engine: Engine) -> None:
    for message, kind in (("hi", "greeting"), ("Thanks a lot!", "thanks"),
                          ("what can you do?", "help"), ("bye", "goodbye")):
        trace = engine.trace(message)
        answer = trace.reply.answer
        assert answer.kind == kind and trace.hits == ()
        assert answer.citations == () and answer.quotes == () and answer.more == ()
        rendered = render_answer(answer)
        assert rendered == answer.message and "Sources" not in rendered
        assert trace.reply.conversation == Conversation()


def test_help_suggests_a_question_about_a_latest_article_that_gets_answered(
    engine: Engine,
) -> None:
    message = engine.ask("what can you do?").answer.message
    titles = [a.title for a in engine.latest_articles(3)]
    assert all(f"“{t}”" in message for t in titles)
    example = re.search(r"For example: “(.+)”$", message)
    assert example is not None
    latest = [a.title.lower() for a in engine.latest_articles(10)]
    assert any(t in example.group(1).lower() for t in latest)
    assert not engine.ask(example.group(1)).answer.abstained


def test_thanks_between_two_questions_keeps_the_follow_up_thread(engine: Engine) -> None:
    first = engine.ask("What did Governor John Bel Edwards say about the hurricane damage?")
    thanks = engine.ask("thanks!", first.conversation)
    assert thanks.answer.kind == "thanks"
    assert thanks.conversation == first.conversation
    follow = engine.ask("What did he say about his family?", thanks.conversation)
    assert (follow.answer.citations[0].ref.article_id, follow.answer.citations[0].ref.number) == (
        "storm", 1)


def test_a_greeting_in_front_of_a_question_is_not_searched(engine: Engine) -> None:
    plain = engine.ask("How far can an owl turn its head?").answer
    greeted = engine.ask("Hi! How far can an owl turn its head?").answer
    assert greeted.kind == "answer" and greeted.question == "How far can an owl turn its head?"
    assert greeted.to_json() == plain.to_json()
    assert engine.ask("thanks to whom was the war won?").answer.kind in ("answer", "abstain")


STORM_FIRST = "What did Governor John Bel Edwards say about the hurricane damage?"


def test_tell_me_more_goes_on_with_the_next_paragraph(engine: Engine) -> None:
    first = engine.ask(STORM_FIRST)
    top = first.answer.citations[0]
    assert (top.ref.article_id, top.ref.number) == ("storm", 1)
    more = engine.ask("tell me more", first.conversation)
    assert more.answer.kind == "more" and not more.answer.abstained
    assert [(c.ref.article_id, c.ref.number) for c in more.answer.citations] == [("storm", 2)]
    check_answer(more.answer)
    after = engine.ask("and after that?", more.conversation)
    assert [(c.ref.article_id, c.ref.number) for c in after.answer.citations] == [("storm", 3)]
    # The story ends there: nothing more is quoted.
    assert engine.ask("what happened next?", after.conversation).answer.abstained


def test_who_said_that_quotes_the_attribution(engine: Engine) -> None:
    first = engine.ask("What did he say about his family?",
                       engine.ask(STORM_FIRST).conversation)
    assert "family" in first.answer.text
    speaker = engine.ask("who said that?", first.conversation).answer
    assert not speaker.abstained
    check_answer(speaker)
    # The quote said "He said ...": the sentence that names him answers.
    assert "John Bel Edwards" in speaker.text


def test_what_is_this_about_quotes_the_lead(engine: Engine) -> None:
    first = engine.ask(STORM_FIRST)
    about = engine.ask("what is this article about?", first.conversation).answer
    assert about.kind == "about"
    assert [(c.ref.article_id, c.ref.number) for c in about.citations] == [("storm", 0)]
    check_answer(about)
    named = engine.ask("what's the story about the sourdough bread about").answer
    assert [(c.ref.article_id, c.ref.number) for c in named.citations] == [("bread", 0)]
    assert engine.ask("what's the story about the mars rover about").answer.abstained


def test_short_follow_ups_stay_on_the_article_and_are_answered(engine: Engine) -> None:
    conversation = engine.ask(STORM_FIRST).conversation
    asked = [("where did his family go?", 1), ("how many soldiers were sent?", 2)]
    for question, paragraph in asked:
        reply = engine.ask(question, conversation)
        assert not reply.answer.abstained, question
        assert any((c.ref.article_id, c.ref.number) == ("storm", paragraph)
                   for c in reply.answer.citations), question
        conversation = reply.conversation


@pytest.mark.parametrize(
    "question",
    ["What is the boiling point of mercury?", "How do I change a car tyre?",
     "Who won the 2018 FIFA World Cup?"],
)
def test_off_topic_questions_mid_conversation_are_refused(engine: Engine, question: str) -> None:
    conversation = engine.ask(STORM_FIRST).conversation
    assert engine.ask(question, conversation).answer.abstained


def test_a_question_about_another_article_leaves_and_back_to_returns(engine: Engine) -> None:
    first = engine.ask("Who signed a contract with Porto?")
    assert first.answer.citations[0].ref.article_id == "football"
    owls = engine.ask("How far can an owl turn its head?", first.conversation)
    assert owls.answer.citations[0].ref.article_id == "owls"
    back = engine.ask("back to the striker - how long is his contract?", owls.conversation)
    assert not back.answer.abstained
    assert (back.answer.citations[0].ref.article_id, back.answer.citations[0].ref.number) == (
        "football", 0)
    assert back.conversation.turns[-1].answer == back.answer.text


def test_a_when_question_answered_by_no_date_is_a_near_miss(engine: Engine) -> None:
    # The football article says his children settled at school, never when nor how many:
    # quoting it would answer a question nobody asked.
    for question in ("when did marco silva's children settle at school",
                     "how many children does marco silva have"):
        trace = engine.trace(question)
        assert trace.hits and trace.hits[0].ref.article_id == "football", question
        assert trace.reply.answer.abstained, question
    # A temporal clause answers "when"; a figure answers "how many".
    when = engine.ask("when did the governor's family evacuate to baton rouge").answer
    assert not when.abstained and "before the storm hit" in when.text
    sent = engine.ask("how many national guard soldiers were sent to louisiana").answer
    assert not sent.abstained and "5,000" in sent.text
