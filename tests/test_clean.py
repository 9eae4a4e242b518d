"""Boilerplate removal and text normalization."""

from __future__ import annotations

from pathlib import Path

from index.clean import clean_documents, is_navigation, matches_boilerplate
from index.load import load_paths
from index.models import Block, Document
from index.settings import SplitSettings

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
SETTINGS = SplitSettings(repeat_threshold=3)


def doc(article_id: str, *texts: str, verbatim: bool = False) -> Document:
    return Document(article_id, article_id.title(), f"{article_id}.txt", tuple(Block(t) for t in texts), verbatim=verbatim)


def texts(document: Document) -> list[str]:
    return [block.text for block in document.blocks]


def test_navigation_lines() -> None:
    for line in ("Skip To Content", "Republish This Story", "Please read before republishing",
                 "Share", "Home | News | Sports | Weather"):
        assert is_navigation(line), line
    for line in ("Decipherment", "The Early Years", "Skip to the end, he said.",
                 "Read the report in full before the vote, because it matters."):
        assert not is_navigation(line), line


def test_patterns_need_reader_address_for_ambiguous_phrases() -> None:
    assert matches_boilerplate("Make a gift of any size and become a member today. You'll help.")
    assert matches_boilerplate("We don't support Internet Explorer")
    assert matches_boilerplate("Please use Chrome, Safari, Firefox, or Edge to view this site.")
    assert matches_boilerplate("— Rachel Fishman Feddersen, Publisher and CEO")
    assert matches_boilerplate("Sign up for our daily newsletter.")
    # Reporting about gifts and memberships is article text.
    assert not matches_boilerplate("She hoped to become a member of parliament by 1990.")
    assert not matches_boilerplate("Donors were asked to make a gift to the hospital fund.")
    assert not matches_boilerplate("The paper refused to republish the cartoons.")


def test_fixture_page_keeps_article_and_drops_boilerplate_tail() -> None:
    loaded = load_paths([FIXTURES / "news-page.txt"]).documents
    cleaned = texts(clean_documents(loaded, SETTINGS)[0])
    assert cleaned[0].startswith("The central library reopened on Saturday")
    assert cleaned[-1].startswith("“We wanted a library")
    assert "Renovation" in cleaned
    joined = "\n".join(cleaned)
    for gone in ("Skip", "Menu", "Republish", "Before you go", "Local news is disappearing",
                 "donation", "Jane Doe", "Share", "cookies"):
        assert gone not in joined, gone


def test_bundled_forward_article_keeps_every_paragraph() -> None:
    source = ROOT / "examples" / "articles" / "forward-morocco-relations-2003.txt"
    loaded = load_paths([source]).documents
    cleaned = texts(clean_documents(loaded, SETTINGS)[0])
    assert cleaned[0].startswith("Morocco and Israel are mulling")
    assert cleaned[-1].startswith("“My family arrived in Morocco before Islam.")
    assert len(cleaned) == 35
    joined = "\n".join(cleaned).lower()
    for gone in ("support the forward", "readers like you", "republish", "internet explorer",
                 "now more than ever", "publisher and ceo", "skip to content"):
        assert gone not in joined, gone


def test_tail_rule_does_not_eat_an_article_that_continues() -> None:
    article = doc(
        "charity",
        "The hospital opened a new wing on Monday after a two-year appeal to local donors.",
        "Readers like you make it all possible, the appeal letter told residents last spring.",
        "The wing has forty beds and a new maternity unit.",
        "Doctors said waiting times should fall by a third.",
        "The hospital plans a second wing for 2030.",
        "Share",
    )
    cleaned = texts(clean_documents([article], SETTINGS)[0])
    assert cleaned == list(article_text for article_text in texts(article)[:5] if "Readers" not in article_text)


def test_repetition_across_corpus_drops_edges_and_labels_but_keeps_quoted_paragraphs() -> None:
    footer = "The Gazette is published by Example Media Group in Springfield."
    quote = ("“We will rebuild the bridge before winter, whatever it costs, because the town cannot "
             "wait another year for a safe crossing over the river,” the mayor said on Tuesday.")
    docs = [
        doc(f"story{i}", f"Story {i} opens with its own first paragraph about topic {i}.",
            quote if i < 3 else f"Another paragraph of story {i}.", f"Story {i} ends here.", footer)
        for i in range(6)
    ]
    cleaned = clean_documents(docs, SETTINGS)
    for i, document in enumerate(cleaned):
        assert footer not in texts(document)
        assert texts(document)[0].startswith(f"Story {i} opens")
    assert all(quote in texts(document) for document in cleaned[:3])


def test_repetition_needs_a_large_enough_corpus() -> None:
    footer = "The Gazette is published by Example Media Group in Springfield."
    docs = [doc(f"s{i}", f"Own text {i}.", footer) for i in range(4)]
    assert all(footer in texts(d) for d in clean_documents(docs, SETTINGS))


def test_duplicated_articles_are_not_emptied_by_repetition() -> None:
    body = ("Exactly the same story text appears in each of these copies, long enough to be a real "
            "paragraph of an article rather than a label or a menu item on the page.")
    docs = [doc(f"copy{i}", body) for i in range(6)]
    assert all(texts(d) == [body] for d in clean_documents(docs, SETTINGS))


def test_verbatim_documents_are_untouched() -> None:
    original = doc("v", "Skip To Content", "  Readers like you make it all possible.  ", "", verbatim=True)
    assert clean_documents([original], SETTINGS)[0] == original


def test_normalization_keeps_wording() -> None:
    decomposed = "Cafe\u0301  au\u00a0lait —  “Quoted,”\u200b he said.\r\nSecond   line. "
    cleaned = clean_documents([doc("n", decomposed)], SETTINGS)[0]
    assert texts(cleaned) == ["Café au lait — “Quoted,” he said.\nSecond line."]
