"""Loaders: formats, titles, ids, encodings and per-file problems."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from index.load import load_paths
from index.models import Document

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"

HTML = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Lighthouses of the North | Coast Weekly</title>
<meta property="og:title" content="Lighthouses of the North">
<meta property="article:published_time" content="2023-06-01">
<link rel="canonical" href="https://example.org/lighthouses"></head>
<body><nav><a href="/">Home</a> | <a href="/news">News</a></nav>
<article><h1>Lighthouses of the North</h1>
<p>The first lighthouse on the northern cape was lit in 1821 and burned whale oil until the
keepers switched to kerosene later in the century.</p>
<h2>Keepers</h2>
<p>Three keepers lived at the station at any time, working in shifts through the night to keep
the lamp trimmed and the lens clean.</p>
<p>The last keeper left in 1987, when the light was automated and monitored from the mainland
by radio.</p></article>
<footer><p>Copyright Coast Weekly</p></footer></body></html>"""


def only(result_docs: tuple[Document, ...]) -> Document:
    assert len(result_docs) == 1, result_docs
    return result_docs[0]


def test_txt_title_is_first_meaningful_line_not_navigation(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_text("Skip To Content\n\nA Quiet Harbour\n\nFirst paragraph here.\n\nSecond one.\n")
    doc = only(load_paths([path]).documents)
    assert doc.title == "A Quiet Harbour"
    assert doc.article_id == "page"
    assert doc.source == str(path)
    assert [b.text for b in doc.blocks] == ["Skip To Content", "First paragraph here.", "Second one."]


def test_txt_without_title_line_takes_title_from_text_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    text = "The harbour was dredged in 1903, and a new\nbreakwater followed two years later.\n"
    path.write_text(text)
    doc = only(load_paths([path]).documents)
    assert doc.title != "notes"
    assert doc.title.startswith("The harbour was dredged")
    # Wrapped lines of one paragraph are joined into one block.
    assert [b.text for b in doc.blocks] == [
        "The harbour was dredged in 1903, and a new breakwater followed two years later."
    ]


def test_html_uses_trafilatura_main_text_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "lighthouses.html"
    path.write_text(HTML)
    doc = only(load_paths([path]).documents)
    assert doc.title == "Lighthouses of the North"
    assert doc.date == "2023-06-01"
    assert doc.url == "https://example.org/lighthouses"
    texts = [b.text for b in doc.blocks]
    assert len(texts) == 3
    assert texts[0].startswith("The first lighthouse") and "Home" not in " ".join(texts)
    assert [b.section for b in doc.blocks] == [None, "Keepers", "Keepers"]


def test_markdown_headings_sections_and_markup(tmp_path: Path) -> None:
    path = tmp_path / "stone.md"
    path.write_text(
        "---\ndate: 2024-01-02\nurl: https://example.org/stone\n---\n"
        "# The Stone\n\nIt was **found** in [Rashid](https://example.org/rashid) in 1799,\n"
        "by _soldiers_ and `engineers`. ![a photo](stone.jpg)\n\n"
        "## Decipherment\n\nChampollion read it in 1822.\n\n- first item\n- second *item*\n"
    )
    doc = only(load_paths([path]).documents)
    assert (doc.title, doc.date, doc.url) == ("The Stone", "2024-01-02", "https://example.org/stone")
    assert [(b.text, b.section) for b in doc.blocks] == [
        ("It was found in Rashid in 1799, by soldiers and engineers.", None),
        ("Champollion read it in 1822.", "Decipherment"),
        ("first item\nsecond item", "Decipherment"),
    ]


def test_jsonl_both_shapes_bad_line_and_verbatim_numbering(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    paragraphs = ["  Kept exactly, spaces too.  ", "x", "", "Short."]
    lines = [
        json.dumps({"id": "a", "title": "A", "url": "https://e.org/a", "date": "2020", "text": "One.\n\nTwo."}),
        "{not json",
        json.dumps({"id": "b", "title": "B", "paragraphs": paragraphs}),
        json.dumps({"title": "no text"}),
        json.dumps({"title": "No id", "text": "Body."}),
    ]
    path.write_text("\n".join(lines) + "\n")
    result = load_paths([path])
    by_id = {doc.article_id: doc for doc in result.documents}
    assert set(by_id) == {"a", "b", "corpus-5"}
    assert [b.text for b in by_id["a"].blocks] == ["One.", "Two."]
    assert (by_id["a"].url, by_id["a"].date, by_id["a"].verbatim) == ("https://e.org/a", "2020", False)
    assert by_id["b"].verbatim and [b.text for b in by_id["b"].blocks] == paragraphs
    assert [(s.path, s.reason.split(" (")[0]) for s in result.skipped] == [
        (f"{path}:line 2", "malformed JSON"),
        (f"{path}:line 4", "record has neither 'text' nor 'paragraphs'"),
    ]


def test_big_jsonl_streams_a_line_at_a_time_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from index import load
    from index.loaders import jsonl_stream

    path = tmp_path / "dump.jsonl"
    lines = [json.dumps({"id": f"r{i}", "title": f"Record {i}", "text": f"Body {i}.\n\nMore."})
             for i in range(5)]
    lines[2] = "{broken"
    lines.insert(4, json.dumps({"id": "empty", "paragraphs": ["  "]}))
    lines.append(json.dumps({"title": "Café \u00e9t\u00e9", "text": "Été."}, ensure_ascii=False))
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    whole = load_paths([path])
    monkeypatch.setattr(jsonl_stream, "STREAM_BYTES", 1)
    streamed = load_paths([path])
    assert streamed == whole and len(whole.documents) == 5
    assert [s.reason.split(" (")[0] for s in streamed.skipped] == [
        "malformed JSON", "no text in 'paragraphs'"]

    # Lazily: the first article comes before the file's end is read.
    skipped: list = []
    documents = load.iter_documents([path], skipped)
    assert next(documents).article_id == "r0"
    with open(path, "ab") as handle:
        handle.write(json.dumps({"id": "late", "text": "Appended."}).encode() + b"\n")
    assert [d.article_id for d in documents][-1] == "late"
    monkeypatch.setattr(jsonl_stream, "STREAM_BYTES", 10**9)
    assert load_paths([path], max_file_mb=0.000001).skipped[0].reason.startswith("0.0 MB is over")


def test_json_file_with_list_or_single_object(tmp_path: Path) -> None:
    (tmp_path / "many.json").write_text(
        json.dumps([{"id": "x", "title": "X", "text": "Ex."}, {"title": "Y", "paragraphs": ["Why."]}])
    )
    (tmp_path / "one.json").write_text(json.dumps({"title": "One", "text": "Single."}))
    ids = [doc.article_id for doc in load_paths([tmp_path]).documents]
    assert ids == ["x", "many-2", "one"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Café Société\n\nNaïve façade.".encode("latin-1"), "Naïve façade."),
        ("Quotes\n\n“Smart” quotes – and a dash.".encode("cp1252"), "“Smart” quotes – and a dash."),
        ("Title\n\nUTF-16 text, ünïcode.".encode("utf-16"), "UTF-16 text, ünïcode."),
        (b"\xef\xbb\xbfTitle\n\nWith a BOM.", "With a BOM."),
    ],
)
def test_encodings(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "enc.txt"
    path.write_bytes(data)
    doc = only(load_paths([path]).documents)
    assert [b.text for b in doc.blocks] == [expected]
    assert "\ufeff" not in doc.title


def test_bad_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    (tmp_path / "empty.md").write_text("  \n\n")
    (tmp_path / "broken.json").write_text('{"id": "x", ')
    (tmp_path / "no-text.html").write_text("<html><body></body></html>")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "good.txt").write_text("Good\n\nFine text.")
    result = load_paths([tmp_path, tmp_path / "missing"])
    assert [doc.article_id for doc in result.documents] == ["good"]
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert reasons["binary.txt"].startswith("binary file")
    assert reasons["empty.md"] == "empty file"
    assert reasons["broken.json"].startswith("malformed JSON")
    assert reasons["no-text.html"] == "no article text found in the HTML"
    assert reasons["image.png"] == "unsupported file type '.png'"
    assert reasons["missing"] == "no such file or folder"


def test_folder_walk_ids_hidden_dirs_symlink_loop_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "news" / "2024").mkdir(parents=True)
    (tmp_path / "news" / "2024" / "story.txt").write_text("Story\n\nText one.")
    (tmp_path / "story.md").write_text("# Story\n\nText two.")
    (tmp_path / "story.txt").write_text("Story\n\nSame id as story.md.")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hidden.txt").write_text("Hidden\n\nNever loaded.")
    os.symlink(tmp_path, tmp_path / "news" / "loop")
    result = load_paths([tmp_path])
    assert [doc.article_id for doc in result.documents] == ["story", "news/2024/story"]
    assert result.documents[0].source == str(tmp_path / "story.md")
    assert len(result.skipped) == 1
    assert result.skipped[0].path == str(tmp_path / "story.txt")
    assert "duplicate article id 'story'" in result.skipped[0].reason


def test_fixture_page_loads_with_its_headline() -> None:
    doc = only(load_paths([FIXTURES / "news-page.txt"]).documents)
    assert doc.title == "City Library Reopens After Two-Year Renovation"
