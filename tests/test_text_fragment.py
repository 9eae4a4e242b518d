"""Citation links that open at the quote: text-fragment encoding and where links appear."""

from __future__ import annotations

import json

from bot.models import Citation
from bot.render import source_line
from bot.telegram.html_render import render_paragraph
from bot.telegram.state.answers import citations_from_json, citations_to_json
from bot.text_fragment import encode_text, quote_url, text_directive
from index import ParagraphRef

PARAGRAPH = "Before it. The bridge, long-awaited & costly, opened in 1932. After it."


def _ref(url: str | None = "https://example.org/a", page: int | None = None) -> ParagraphRef:
    return ParagraphRef(7, "art", 2, PARAGRAPH, None, "Bridges", url, "2024-01-02", page)


def test_syntax_characters_are_escaped() -> None:
    # "-", "," and "&" would end or split the directive; spaces and "#" are not fragment text.
    assert encode_text("long-awaited, A&B #1") == "long%2Dawaited%2C%20A%26B%20%231"
    assert encode_text("café “quoted”") == "caf%C3%A9%20%E2%80%9Cquoted%E2%80%9D"
    assert encode_text("a.b_c~d") == "a.b_c~d"


def test_short_quote_is_matched_whole_and_long_quote_by_its_ends() -> None:
    assert text_directive("  The bridge\nopened. ") == "text=The%20bridge%20opened."
    long = "one two three four five six seven eight nine ten eleven twelve"
    assert text_directive(long) == "text=one%20two%20three%20four%20five,eight%20nine%20ten%20eleven%20twelve"
    assert text_directive("   ") is None


def test_quote_url_keeps_the_address_and_its_fragment() -> None:
    assert quote_url("https://x.org/p?q=1", "Hi there") == "https://x.org/p?q=1#:~:text=Hi%20there"
    assert quote_url("https://x.org/p#intro", "Hi") == "https://x.org/p#intro:~:text=Hi"
    # A link copied with a directive gets the new one instead.
    assert quote_url("https://x.org/p#:~:text=old", "new") == "https://x.org/p#:~:text=new"
    # PDFs open at the page; local paths and other schemes get no link.
    assert quote_url("https://x.org/r.pdf", "Hi", page=4) == "https://x.org/r.pdf#page=4"
    assert quote_url("file:///tmp/a.html", "Hi") is None
    assert quote_url("articles/a.md", "Hi") is None


def test_citation_links_to_its_quoted_span() -> None:
    start = PARAGRAPH.index("The bridge")
    end = PARAGRAPH.index("After")
    citation = Citation(1, _ref(), 0.5, quotes=((start, end - 1),))
    assert citation.url_quote == (
        "https://example.org/a#:~:text=The%20bridge%2C%20long%2Dawaited%20%26%20costly%2C"
        "%20opened%20in%201932."
    )
    # Nothing quoted (a "More" result): the link opens at the paragraph.
    unquoted = Citation(1, _ref(), 0.5)
    assert unquoted.url_quote is not None and unquoted.url_quote.endswith(
        "text=Before%20it.%20The%20bridge%2C%20long%2Dawaited,opened%20in%201932.%20After%20it."
    )
    assert Citation(1, _ref(url=None), 0.5).url_quote is None


def test_json_adds_page_and_url_quote_only_when_known() -> None:
    plain = Citation(1, _ref(url=None), 0.5).to_json()
    assert list(plain) == ["n", "article_id", "title", "url", "date", "paragraph", "text", "score"]
    full = Citation(1, _ref(page=4), 0.5).to_json()
    assert full["page"] == 4 and full["url_quote"] == "https://example.org/a#page=4"
    assert set(full) - set(plain) == {"page", "url_quote"}


def test_source_lines_show_the_page() -> None:
    citation = Citation(3, _ref(url=None, page=4), 0.5)
    assert source_line(citation) == "[3] Bridges — 2024-01-02 — p. 4 — paragraph 3"
    assert source_line(Citation(3, _ref(url=None), 0.5)) == "[3] Bridges — 2024-01-02 — paragraph 3"
    html = render_paragraph(Citation(3, _ref(page=4), 0.5))
    assert html.startswith(
        '3. <a href="https://example.org/a#page=4">Bridges</a> · 2024-01-02 · p. 4 · ¶3\n\n'
    )


def test_stored_citations_keep_their_page() -> None:
    citations = (Citation(1, _ref(page=4), 0.5, ((0, 5),)), Citation(2, _ref(), 0.25))
    assert citations_from_json(citations_to_json(citations)) == citations
    # Answers stored before pages existed read as having none.
    old = json.loads(citations_to_json(citations))
    for item in old:
        del item["page"]
    assert [c.ref.page for c in citations_from_json(json.dumps(old))] == [None, None]
