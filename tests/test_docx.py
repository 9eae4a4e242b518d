"""Word .docx articles: title, headings as sections, lists and tables, broken files."""

from __future__ import annotations

import io
from pathlib import Path

import docx

from index.load import load_paths
from index.loaders.docx import parse_docx


def docx_bytes(*, title_style: bool = True, core_title: str = "") -> bytes:
    """A small report: a title, paragraphs under two levels of headings, a list and a table."""
    word = docx.Document()
    word.core_properties.title = core_title
    if title_style:
        word.add_heading("The Honeybee Report", 0)
    word.add_paragraph("Honeybees live in colonies of thousands of workers and one queen.")
    word.add_heading("Foraging", 1)
    word.add_paragraph("Workers fly up to five kilometres from the hive to find nectar.")
    word.add_paragraph("Nectar", style="List Bullet")
    word.add_paragraph("Pollen", style="List Bullet")
    table = word.add_table(rows=2, cols=2)
    for row, cells in enumerate([("Caste", "Lifespan"), ("Worker", "six weeks")]):
        for col, text in enumerate(cells):
            table.cell(row, col).text = text
    word.add_heading("Winter", 2)
    paragraph = word.add_paragraph("In winter the colony clusters")
    paragraph.add_run().add_break()
    paragraph.add_run("to stay   warm.")
    word.sections[0].header.paragraphs[0].text = "Confidential draft"
    out = io.BytesIO()
    word.save(out)
    return out.getvalue()


def test_headings_become_sections() -> None:
    document = parse_docx(docx_bytes(), article_id="bees", source="bees.docx")
    assert document.title == "The Honeybee Report"
    assert [(b.text, b.section) for b in document.blocks] == [
        ("Honeybees live in colonies of thousands of workers and one queen.", None),
        ("Workers fly up to five kilometres from the hive to find nectar.", "Foraging"),
        ("Nectar\nPollen", "Foraging"),
        ("Caste | Lifespan\nWorker | six weeks", "Foraging"),
        ("In winter the colony clusters\nto stay warm.", "Winter"),
    ]
    # Page headers are not article text, and Word has no fixed pages to cite.
    assert all("Confidential" not in b.text and b.page is None for b in document.blocks)


def test_title_falls_back_to_the_title_property_then_the_text() -> None:
    named = parse_docx(docx_bytes(title_style=False, core_title="Bees at Work"),
                       article_id="b", source="b.docx")
    assert named.title == "Bees at Work"
    unnamed = parse_docx(docx_bytes(title_style=False), article_id="b", source="b.docx")
    assert unnamed.title == "Honeybees live in colonies of thousands of workers and one queen."


def test_broken_docx_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "good.docx").write_bytes(docx_bytes())
    (tmp_path / "renamed.docx").write_text("just text, not a Word file")
    (tmp_path / "truncated.docx").write_bytes(docx_bytes()[:500])
    result = load_paths([tmp_path])
    assert [d.article_id for d in result.documents] == ["good"]
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(reasons) == {"renamed.docx", "truncated.docx"}
    assert all(reason.startswith("not a valid .docx file") for reason in reasons.values())
