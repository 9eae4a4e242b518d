"""Telegram HTML rendering and message splitting."""

from __future__ import annotations

import re

import pytest

from bot.models import Answer, Citation, Quote
from bot.telegram.html_render import (
    MAX_MESSAGE_LENGTH,
    numbered_sources,
    render_answer,
    render_context,
    render_more,
    render_paragraph,
    split_html,
)
from fake_bot_api import _balanced, html_to_text
from paragraphs import paragraph

HOSTILE = 'Fish <b>& chips</b> <script>alert("x")</script> cost 5 < 6 && "ok"'


def _citation(
    n: int,
    text: str,
    *,
    title: str | None = None,
    url: str | None = None,
    date: str | None = None,
    quotes: tuple[tuple[int, int], ...] = (),
) -> Citation:
    title = f"Title {n}" if title is None else title
    ref = paragraph(n, text, article_id=f"a{n}", number=n, title=title, url=url, date=date)
    return Citation(n=n, ref=ref, score=1.0, quotes=quotes)


def _answer(
    *quotes: tuple[str, int], citations: tuple[Citation, ...], more: tuple[Citation, ...] = ()
) -> Answer:
    return Answer(
        question="q",
        abstained=False,
        quotes=tuple(Quote(t, c) for t, c in quotes),
        citations=citations,
        more=more,
    )


def _tags_balanced(html: str) -> bool:
    return _balanced(html)


def test_answer_has_quote_then_numbered_sources_with_links_dates_and_paragraphs() -> None:
    url = "https://example.org/b?x=1&y=2"
    c1 = _citation(1, "The bridge opened in 1932.", url=url, date="2024-01-02")
    c2 = _citation(2, "It is long.", title="Plain")
    answer = _answer(("The bridge opened in 1932.", 1), ("It is long.", 2), citations=(c1, c2))
    html = render_answer(answer, numbered_sources(answer))
    quotes = "“The bridge opened in 1932.” [1]\n“It is long.” [2]"
    assert html.startswith(f"<blockquote>{quotes}</blockquote>")
    # The link opens the article at the quote (a text fragment).
    link = "https://example.org/b?x=1&amp;y=2#:~:text=The%20bridge%20opened%20in%201932."
    assert f'1. <a href="{link}">Title 1</a> · 2024-01-02 · ¶2' in html
    assert "2. Plain · ¶3" in html
    assert _tags_balanced(html)


def test_everything_from_articles_and_users_is_escaped() -> None:
    c = _citation(1, HOSTILE, title="<i>T</i> & co", url='javascript:alert("x")', date="<d>")
    answer = _answer((HOSTILE, 1), citations=(c,))
    refs = numbered_sources(answer)
    for html in (render_answer(answer, refs), render_paragraph(refs[0]), render_more(refs),
                 render_context(refs[0], HOSTILE, HOSTILE)):
        assert "<script>" not in html and "<i>T</i>" not in html
        assert "javascript:" not in html  # only http(s) links become links
        assert _tags_balanced(html)
        assert HOSTILE in html_to_text(html)


def test_abstention_mentions_more_only_when_there_is_more() -> None:
    bare = Answer(question="q", abstained=True)
    assert "couldn't find" in render_answer(bare, ())
    assert "More" not in render_answer(bare, ())
    near = Answer(question="q", abstained=True, more=(_citation(1, "x"),))
    assert "More" in render_answer(near, numbered_sources(near))


def test_more_results_are_numbered_after_the_citations() -> None:
    more = (_citation(5, "b"), _citation(6, "c"))
    answer = _answer(("a", 1), citations=(_citation(1, "a"),), more=more)
    refs = numbered_sources(answer)
    assert [r.n for r in refs] == [1, 2, 3]
    assert "2. Title 5" in render_more(refs[1:])


def test_paragraph_highlights_the_quoted_spans() -> None:
    text = "First sentence. Second <one> sentence."
    cited = _citation(1, text, quotes=((16, 38),))
    answer = _answer(("Second <one> sentence.", 1), citations=(cited,))
    html = render_paragraph(numbered_sources(answer)[0])
    assert html.endswith("First sentence. <b>Second &lt;one&gt; sentence.</b>")


def test_short_html_is_one_chunk() -> None:
    assert split_html("<b>hi</b> there") == ["<b>hi</b> there"]


def test_split_prefers_paragraph_then_line_then_sentence_boundaries() -> None:
    para = "Sentence one is here. " * 30
    html = "\n\n".join([para.strip()] * 3)
    chunks = split_html(html, limit=1500)
    assert all(len(c) <= 1500 for c in chunks)
    assert all(c.endswith("here.") for c in chunks)  # cut at paragraph ends, not mid-sentence
    lines = "\n".join(["A line of text without a stop"] * 100)
    assert all(c.endswith("stop") for c in split_html(lines, limit=500))
    sentences = "Short one. " * 200
    assert all(c.endswith(".") for c in split_html(sentences, limit=300))


def test_split_never_breaks_tags_or_entities_and_keeps_all_text() -> None:
    quote = " ".join(
        f'word{i} &amp; <b>bold {i}</b> <a href="https://x.org/?a=1&amp;b={i}">link {i}</a>.'
        for i in range(400)
    )
    html = f"<blockquote>{quote}</blockquote>\n\n<b>Sources</b>\n1. Title"
    chunks = split_html(html, limit=MAX_MESSAGE_LENGTH)
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk.encode("utf-16-le")) // 2 <= MAX_MESSAGE_LENGTH
        assert _tags_balanced(chunk), chunk[:80]
        assert re.search(r"&[a-z]*$", chunk) is None
    assert chunks[1].startswith("<blockquote>")  # the open quote is reopened
    squash = lambda s: re.sub(r"\s+", "", html_to_text(s))  # noqa: E731
    assert squash("".join(chunks)) == squash(html)


def test_split_counts_utf16_units() -> None:
    emoji = "😀 " * 3000  # 3 UTF-16 units per "😀 ", far over the limit in UTF-16
    chunks = split_html(emoji)
    assert len(chunks) == 3
    assert all(len(c.encode("utf-16-le")) // 2 <= MAX_MESSAGE_LENGTH for c in chunks)


def test_split_cuts_a_word_longer_than_a_message() -> None:
    chunks = split_html("x" * 9000)
    assert [len(c) for c in chunks] == [4096, 4096, 808]


def test_a_tag_longer_than_the_limit_is_an_error() -> None:
    with pytest.raises(ValueError):
        split_html(f'<a href="https://x.org/{"y" * 200}">z</a> ' * 3, limit=100)


def test_small_talk_is_escaped_plain_text_without_sources() -> None:
    hello = Answer("hi", abstained=False, reply_kind="greeting", message='Hello! Try “<b>&"x"”')
    html = render_answer(hello, numbered_sources(hello))
    assert html == "Hello! Try “&lt;b&gt;&amp;&quot;x&quot;”"
    assert "Sources" not in html and "blockquote" not in html
    helped = Answer("help", abstained=False, reply_kind="help", message="I answer questions.")
    assert render_answer(helped, ()).endswith("/help lists my commands.")


def test_quotes_with_their_own_quotation_marks_are_not_doubled() -> None:
    said = "“The relationship has come out of the closet,” he said."
    ended = "He said: “We trained the model.”"
    answer = _answer((said, 1), (ended, 2), citations=(_citation(1, said), _citation(2, ended)))
    html = render_answer(answer, numbered_sources(answer))
    assert html.startswith(f"<blockquote>{said} [1]\n{ended} [2]</blockquote>")
    assert "““" not in html and "””" not in html


def test_sources_list_each_source_briefly_within_telegram_limits() -> None:
    from types import SimpleNamespace

    from bot.telegram.source_list import MAX_SOURCES, render_sources
    from index import SourceStatus

    stats = SimpleNamespace(articles=120, paragraphs=3400, built_at="2024-06-01T12:00:00+00:00")
    statuses = [
        SourceStatus("/srv/citebot/articles", "folder", None, "2024-06-01T12:00:00+00:00",
                     added=2, unchanged=40, failed=1, reason="/srv/citebot/articles/x.pdf: scanned"),
        SourceStatus("https://e.org/feed.xml", "feed", "E News", "2024-06-01T12:00:00+00:00",
                     unchanged=20),
        SourceStatus("upload:notes <1>.md", "upload", "Notes & more", "2024-06-01T12:05:00+00:00",
                     added=1),
        *(SourceStatus(f"https://e.org/p/{i}", "url", f"Page {i}") for i in range(100)),
    ]
    public = render_sources(stats, [], statuses, admin=False)  # type: ignore[arg-type]
    lines = html_to_text(public).splitlines()
    assert "• folder articles · 2024-06-01 12:00 UTC: 2 added, 40 unchanged, 1 failed" in lines
    assert "• feed E News · 2024-06-01 12:00 UTC: 20 unchanged" in lines
    assert "• upload Notes & more · 2024-06-01 12:05 UTC: added" in lines
    assert "/srv" not in public and "upload:" not in public and "scanned" not in public
    assert f"… and {len(statuses) - MAX_SOURCES} more." in lines
    admin = render_sources(stats, [], statuses, admin=True)  # type: ignore[arg-type]
    assert "(/srv/citebot/articles/x.pdf: scanned)" in admin
    assert "<code>upload:notes &lt;1&gt;.md</code>" in admin and "/remove ID" in admin
    assert all(_balanced(chunk) for chunk in split_html(admin))
