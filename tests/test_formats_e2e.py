"""End to end: an index built from a PDF and a .docx answers with "p. N" citations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.engine import Engine
from bot.settings import Settings
from index import Embedder, IndexSettings, build_index
from pdf_writer import Line, paragraph, pdf_bytes
from test_docx import docx_bytes
from test_pdf import _report
from web_server import Route, WebServer

LEFT = 72.0
PENICILLIN = (
    "Alexander Fleming noticed in September 1928 that a mould had killed the bacteria growing "
    "on a culture plate he had left uncovered in his laboratory at St Mary's Hospital."
)
FLOREY = (
    "Howard Florey and Ernst Chain turned the mould juice into a drug at Oxford in 1940, and "
    "the first patient was treated with purified penicillin in February 1941."
)


def _penicillin_pdf() -> bytes:
    """Three pages; the answer to the Oxford question is on page 3."""
    pages = [
        [Line(LEFT, 740, "The Discovery of Penicillin", 20), *paragraph(PENICILLIN, LEFT, 700, 440),
         Line(300, 40, "1")],
        [*paragraph("Fleming published his findings in 1929, but few took notice at the time "
                    "because the substance was hard to purify and even harder to make in any useful "
                    "amount.", LEFT, 700, 440), Line(300, 40, "2")],
        [*paragraph(FLOREY, LEFT, 700, 440), Line(300, 40, "3")],
    ]
    return pdf_bytes(pages)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    root = tmp_path_factory.mktemp("formats")
    articles = root / "articles"
    articles.mkdir()
    (articles / "penicillin.pdf").write_bytes(_penicillin_pdf())
    (articles / "bees.pdf").write_bytes(_report())
    (articles / "honeybee-report.docx").write_bytes(docx_bytes())
    settings = Settings(index=IndexSettings(path=str(root / "index"), sources=(str(articles),)))
    summary = build_index(settings.knowledge_base, embedder=embedder)
    assert summary.articles == 3 and summary.skipped == ()
    return root / "index"


def _ask(index_dir: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str],
         *argv: str) -> str:
    def open_engine(settings: Settings) -> Engine:
        return Engine.open(settings, embedder)

    assert main(["--index", str(index_dir), "ask", *argv], engine_factory=open_engine) == 0
    return capsys.readouterr().out


def test_ask_cites_the_page_of_a_pdf(
    index_dir: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _ask(index_dir, embedder, capsys, "Where did Florey and Chain make penicillin a drug?")
    assert "at Oxford in 1940" in out
    assert "[1] The Discovery of Penicillin — p. 3 — paragraph 3" in out

    data = json.loads(_ask(index_dir, embedder, capsys, "--json",
                           "Who worked out the meaning of the waggle dance?"))
    [first, *_] = data["citations"]
    assert first["article_id"] == "bees" and first["page"] == 1
    assert "Karl von Frisch" in data["answer"] and "url_quote" not in first


def test_ask_answers_from_a_docx_section(
    index_dir: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(_ask(index_dir, embedder, capsys, "--json", "How far do workers fly for nectar?"))
    [first, *_] = data["citations"]
    assert first["article_id"] == "honeybee-report" and "page" not in first
    assert "five kilometres" in data["answer"]


DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_index_add_routes_pdf_and_docx_responses_to_their_loaders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither address ends in .pdf or .docx: the content type alone picks the loader."""
    server = WebServer().start()
    try:
        server.routes["/papers/penicillin"] = Route(_penicillin_pdf(), "application/pdf")
        server.routes["/download?id=7"] = Route(docx_bytes(), DOCX_TYPE)
        config = tmp_path / "citebot.toml"
        config.write_text(
            '[index]\npath = "index"\nsources = []\n'
            "[sources]\nallow_private_networks = true\nhost_delay_seconds = 0\n",
            encoding="utf-8",
        )
        pdf_url, docx_url = server.url("/papers/penicillin"), server.url("/download?id=7")
        code = main(["--config", str(config), "index", "add", pdf_url, docx_url, "--json"])
        report = json.loads(capsys.readouterr().out)
    finally:
        server.stop()
    assert code == 0 and report["build"]["articles"] == 2
    assert [(s["title"], s["added"]) for s in report["sources"]] == [
        ("The Discovery of Penicillin", 1), ("The Honeybee Report", 1)]

    assert main(["--config", str(config), "ask", "--json",
                 "Where did Florey and Chain make penicillin a drug?"]) == 0
    [first, *_] = json.loads(capsys.readouterr().out)["citations"]
    assert (first["article_id"], first["page"]) == (pdf_url, 3)
    assert first["url_quote"] == pdf_url + "#page=3"
    assert main(["--config", str(config), "ask", "--json", "How far do workers fly?"]) == 0
    [first, *_] = json.loads(capsys.readouterr().out)["citations"]
    assert first["article_id"] == docx_url and "page" not in first
