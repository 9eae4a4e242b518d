"""Answer composition: verbatim quotes, consistent citations, duplicates cited once."""

from __future__ import annotations

import random

from bot.compose import Draft, compose, near_duplicate, rank_sentences
from bot.question import question_terms
from index import Hit, SentenceSpan, sentence_spans
from paragraphs import paragraph


def make_hit(pid: int, text: str, score: float, dense: list[float] | None = None, **extra: object) -> Hit:
    spans = sentence_spans(text)
    scores = dense if dense is not None else [0.3] * len(spans)
    return Hit(
        paragraph(pid, text, article_id=str(extra.pop("article_id", f"a{pid}")),
                  title=str(extra.pop("title", f"Article {pid}"))),
        score=score,
        sentences=tuple(SentenceSpan(s, e, d) for (s, e), d in zip(spans, scores)),
        **extra,  # type: ignore[arg-type]
    )


OWLS = (
    "Owls hunt at night. The snowy owl lives in the Arctic tundra and hunts lemmings. "
    "Its feathers are white."
)


def check_invariants(draft: Draft) -> None:
    numbers = {c.n for c in draft.citations}
    assert numbers == set(range(1, len(draft.citations) + 1))
    by_n = {c.n: c for c in draft.citations}
    for quote in draft.quotes:
        citation = by_n[quote.citation]
        assert quote.text in citation.ref.text
        assert quote.text.strip() == quote.text and quote.text
    for citation in draft.citations:
        quoted = [citation.ref.text[s:e] for s, e in citation.quotes]
        assert quoted == [q.text for q in draft.quotes if q.citation == citation.n]


def test_quotes_the_sentence_that_carries_the_question() -> None:
    hit = make_hit(1, OWLS, 10.0, dense=[0.4, 0.45, 0.3])
    draft = compose(question_terms("Where does the snowy owl live?"), [hit])
    assert [q.text for q in draft.quotes] == [
        "The snowy owl lives in the Arctic tundra and hunts lemmings."
    ]
    assert draft.citations[0].quotes == ((OWLS.index("The snowy"), OWLS.index(" Its")),)
    check_invariants(draft)


def test_lexical_overlap_can_outweigh_a_slightly_higher_dense_score() -> None:
    hit = make_hit(1, OWLS, 10.0, dense=[0.5, 0.45, 0.3])
    ranked = rank_sentences(question_terms("What do snowy owls hunt in the tundra?"), hit)
    assert ranked[0].text.startswith("The snowy owl")


def test_sentences_are_split_when_the_hit_has_no_scores() -> None:
    hit = Hit(paragraph(1, OWLS, title="t"), score=1.0)
    draft = compose(question_terms("What colour are its feathers?"), [hit])
    assert draft.quotes[0].text == "Its feathers are white."


def test_close_runner_up_from_another_paragraph_is_cited_too() -> None:
    a = make_hit(1, "The bridge opened in 1932. It carries eight lanes.", 10.0, dense=[0.6, 0.2])
    b = make_hit(2, "Crowds watched as the bridge opened in 1932 after years of work.", 9.9,
                 dense=[0.58])
    c = make_hit(3, "Ferries were the only way across before.", 5.0, dense=[0.1])
    draft = compose(question_terms("When did the bridge open?"), [a, b, c])
    assert [c.ref.paragraph_id for c in draft.citations] == [1, 2]
    assert [c.ref.paragraph_id for c in draft.more] == [3]
    check_invariants(draft)


def test_weak_runner_up_is_not_cited() -> None:
    a = make_hit(1, "The bridge opened in 1932. It carries eight lanes.", 10.0, dense=[0.6, 0.2])
    b = make_hit(2, "Ferries were the only way across before.", 9.0, dense=[0.1])
    draft = compose(question_terms("When did the bridge open?"), [a, b])
    assert len(draft.citations) == 1


def test_near_duplicate_paragraphs_are_cited_once() -> None:
    story = (
        "The minister resigned on Tuesday after weeks of pressure over the contracts. "
        "She said she had done nothing wrong but would not be a distraction."
    )
    copy = "Reuters - " + story + " Reporting by staff."
    assert near_duplicate(story, copy)
    a = make_hit(1, story, 10.0, dense=[0.6, 0.3])
    b = make_hit(2, copy, 9.99, dense=[0.6, 0.3, 0.1], article_id="other")
    draft = compose(question_terms("Why did the minister resign?"), [a, b])
    assert [c.ref.paragraph_id for c in draft.citations] == [1]
    assert draft.more == ()


def test_different_paragraphs_are_not_duplicates() -> None:
    assert not near_duplicate(OWLS, "The bridge opened in 1932. It carries eight lanes.")


def test_no_hits_gives_an_empty_draft() -> None:
    draft = compose(question_terms("anything"), [])
    assert draft.main is None and draft.quotes == () and draft.citations == ()


def test_invariants_hold_over_random_paragraphs() -> None:
    rng = random.Random(7)
    vocabulary = "owl bridge river king war city 1932 Paris snow bread yeast gas rock".split()
    for _ in range(300):
        hits = []
        for pid in range(rng.randint(1, 6)):
            sentences = [
                " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 9))).capitalize() + "."
                for _ in range(rng.randint(1, 5))
            ]
            text = ("  " if rng.random() < 0.2 else "") + " ".join(sentences)
            dense = [rng.uniform(-0.2, 0.9) for _ in sentence_spans(text)]
            hits.append(make_hit(pid, text, rng.uniform(0, 20), dense=dense))
        hits.sort(key=lambda h: -h.score)
        question = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 5))) + "?"
        draft = compose(question_terms(question), hits, max_citations=rng.randint(1, 3))
        check_invariants(draft)
        cited = [c.ref.paragraph_id for c in (*draft.citations, *draft.more)]
        assert len(cited) == len(set(cited))
