"""PDF articles: paragraphs rebuilt from the layout, running lines dropped, pages kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.load import load_paths
from index.loaders.pdf import parse_pdf
from index.loaders.pdf_layout import join_lines
from index.models import Document
from pdf_writer import Image, Line, paragraph, pdf_bytes

WIDTH = 220  # one column of a two-column page, in points
LEFT, RIGHT = 72.0, 320.0

INTRO = (
    "Honeybees live in colonies of many thousands of workers, a few hundred drones and a "
    "single queen, and the whole colony behaves in many ways like one organism."
)
DANCE = (
    "A forager that has found a rich patch of flowers returns to the hive and performs a "
    "waggle dance on the comb. The angle of the dance tells her sisters the direction of the "
    "flowers relative to the sun, and the length of the waggle run tells them the distance. "
    "The Austrian zoologist Karl von Frisch worked out the meaning of the dance and shared "
    "the 1973 Nobel Prize for it."
)
WINTER = (
    "In winter the colony forms a tight cluster around the queen and shivers its flight "
    "muscles to keep the centre of the cluster warm, eating the honey stored in summer."
)
SWARM = (
    "When a colony grows too large the old queen leaves with about half of the workers to "
    "found a new colony elsewhere, a well-known spectacle called swarming."
)


def _flow(texts: list[str], frames: list[tuple[int, float, float, float]], *,
          justify: bool) -> dict[int, list[Line]]:
    """Set paragraphs (first lines indented) one after another into column frames
    (page, x, top baseline, lowest baseline), moving on to the next frame when one is full."""
    pages: dict[int, list[Line]] = {}
    frame = 0
    y = frames[0][2]
    for text in texts:
        for line in paragraph(text, 0, 0, WIDTH, indent=14, justify=justify):
            page, x, top, bottom = frames[frame]
            if y < bottom:
                frame += 1
                page, x, top, bottom = frames[frame]
                y = top
            pages.setdefault(page, []).append(Line(x + line.x, y, line.text, spacing=line.spacing))
            y -= 12
    return pages


def _report(*, justify: bool = True) -> bytes:
    """Two pages of two columns; DANCE runs from the left column into the right one and WINTER
    from page 1 onto page 2; a running header, a page footer and a heading on page 2."""
    frames = [(1, LEFT, 660, 585), (1, RIGHT, 660, 585), (2, LEFT, 700, 400)]
    body = _flow([INTRO, DANCE, WINTER], frames, justify=justify)
    first = [Line(LEFT, 760, "Field Notes on Insects, Vol. 3"), Line(LEFT, 700, "How a Honeybee Colony Works", 20),
             *body[1], Line(280, 40, "Page 1 of 2")]
    second = [Line(LEFT, 760, "Field Notes on Insects, Vol. 3"), *body[2],
              Line(LEFT, 300, "Swarming", 14), *paragraph(SWARM, LEFT, 280, WIDTH),
              Line(280, 40, "Page 2 of 2")]
    return pdf_bytes([first, second], title="Microsoft Word - bees.docx")


def _parse(data: bytes) -> Document:
    documents, skipped = parse_pdf(data, article_id="bees", source="bees.pdf")
    assert skipped == []
    [document] = documents
    return document


@pytest.mark.parametrize("justify", [True, False], ids=["justified", "ragged"])
def test_paragraphs_are_rebuilt_across_columns_and_pages(justify: bool) -> None:
    document = _parse(_report(justify=justify))
    assert document.title == "How a Honeybee Colony Works"
    texts = [block.text for block in document.blocks]
    assert texts == [INTRO, DANCE, WINTER, SWARM]
    # A paragraph keeps the page it starts on; headings name the sections after them.
    assert [block.page for block in document.blocks] == [1, 1, 1, 2]
    assert [block.section for block in document.blocks] == [None, None, None, "Swarming"]


def test_running_headers_and_page_numbers_are_dropped() -> None:
    text = " ".join(block.text for block in _parse(_report()).blocks)
    assert "Field Notes" not in text and "Page" not in text


def test_a_bare_page_number_is_dropped_even_on_a_single_page() -> None:
    lines = [*paragraph(INTRO, LEFT, 700, 400), Line(300, 40, "- 7 -")]
    document = _parse(pdf_bytes([lines]))
    assert [block.text for block in document.blocks] == [INTRO]
    # No heading stands out: the title is made from the text, the metadata title was generic.
    assert document.title.startswith("Honeybees live in colonies")


def test_words_hyphenated_at_line_ends_are_joined() -> None:
    lines = [
        Line(LEFT, 700, "The colony keeps its tempera-"),
        Line(LEFT, 688, "ture steady; a well-known feat. Its well-"),
        Line(LEFT, 676, "known cousin, Jean-"),
        Line(LEFT, 664, "Paul, counted COVID-"),
        Line(LEFT, 652, "19 cases."),
    ]
    [block] = _parse(pdf_bytes([lines], title="Bees")).blocks
    assert block.text == (
        "The colony keeps its temperature steady; a well-known feat. Its well-known cousin, "
        "Jean-Paul, counted COVID-19 cases."
    )


def test_join_lines_reads_the_documents_own_spelling() -> None:
    assert join_lines("a co-", "operative", {"cooperative"}) == "a cooperative"
    assert join_lines("a co-", "operative", {"co-operative"}) == "a co-operative"
    assert join_lines("a co-", "operative", set()) == "a cooperative"
    assert join_lines("soft\u00ad", "ware", {"soft-ware"}) == "software"
    assert join_lines("a dash -", "then", set()) == "a dash - then"


def test_ligatures_become_letters() -> None:
    lines = [Line(LEFT, 700, "The ﬁrst ﬂowers bloom in spring.")]
    with pytest.raises(UnicodeEncodeError):
        pdf_bytes([lines])  # Helvetica's WinAnsi encoding has no ligature glyphs...
    from index.loaders.pdf import _LIGATURES

    assert "The ﬁrst ﬂowers".translate(_LIGATURES) == "The first flowers"  # ...so test the map


def test_a_scanned_pdf_is_reported_not_indexed(tmp_path: Path) -> None:
    (tmp_path / "scan.pdf").write_bytes(pdf_bytes([[Image()], [Image(), Line(300, 40, "2")]]))
    (tmp_path / "mixed.pdf").write_bytes(
        pdf_bytes([paragraph(INTRO, LEFT, 700, 400), [Image()], [Image()], paragraph(WINTER, LEFT, 700, 400)])
    )
    result = load_paths([tmp_path])
    assert [d.article_id for d in result.documents] == ["mixed"]
    assert [b.page for b in result.documents[0].blocks] == [1, 4]
    reasons = {s.path.replace(f"{tmp_path}/", ""): s.reason for s in result.skipped}
    assert reasons == {
        "scan.pdf": "no text layer (a scanned PDF?); run OCR on it to add a text layer",
        "mixed.pdf (pages 2-3)": (
            "no text layer on these pages (scanned?); run OCR on it to add a text layer"
        ),
    }


def test_broken_and_unsupported_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "fake.pdf").write_text("<html><body>not a pdf</body></html>")
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "blank.pdf").write_bytes(pdf_bytes([[]]))
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0 legacy")
    (tmp_path / "big.pdf").write_bytes(_report() + b"\n" * 2_000_000)
    result = load_paths([tmp_path], max_file_mb=1)
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert reasons["fake.pdf"].startswith("not a valid PDF")
    assert reasons["empty.pdf"] == "empty file"
    assert reasons["blank.pdf"] == "no text in the PDF"
    assert reasons["old.doc"] == "old Word format .doc; save it as .docx"
    assert "over the 1 MB limit" in reasons["big.pdf"]
    assert result.documents == ()
