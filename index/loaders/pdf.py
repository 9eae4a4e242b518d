"""PDF articles: the text layer, read with pdfminer.six, rebuilt into paragraphs with pages.

pdfminer.six (MIT, pure Python, maintained) gives each line of text with its position and font,
which is what rebuilding paragraphs, dropping running headers and finding headings need (see
``index.loaders.pdf_layout``). A PDF without a text layer (a scan) is reported, not indexed
empty: its words are pixels that only OCR can turn into text.
"""

from __future__ import annotations

import logging
import re
from io import BytesIO
from statistics import median
from typing import Any

from index.loaders.decode import UnreadableFile
from index.loaders.pdf_layout import PageText, TextLine, drop_running_lines, rebuild
from index.loaders.text import short_title
from index.models import Document, SkippedFile

# Typographic ligatures are one glyph in the PDF but letters to a reader and to search.
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl",
                            "ﬅ": "st", "ﬆ": "st"})
# Glyphs of a font without a Unicode map come out as "(cid:42)": no text can be recovered.
_CID = re.compile(r"\(cid:\d+\)")
# A page with images and fewer visible characters than this is a scanned page.
_SCANNED_PAGE_CHARS = 20
# Document-info titles that name a file or a template rather than the article.
_GENERIC_TITLE = re.compile(
    r"^(?:microsoft (?:word|powerpoint)\b|untitled\b|document\d*$)|\.(?:docx?|pdf|tex|indd|odt)$",
    re.IGNORECASE,
)
# Lines this many line heights apart (or out of alignment) still share a text box.
_LINE_MARGIN = 2.0
OCR_HINT = "run OCR on it to add a text layer"

log = logging.getLogger(__name__)


def parse_pdf(
    data: bytes, *, article_id: str, source: str
) -> tuple[list[Document], list[SkippedFile]]:
    """Read a PDF's text layer as one document; scanned pages are reported as skipped."""
    pages, scanned, info_title = _read(data)
    text_pages = [page for page in pages if page.lines and page.number not in scanned]
    if not text_pages:
        if scanned:
            raise UnreadableFile(f"no text layer (a scanned PDF?); {OCR_HINT}")
        raise UnreadableFile("no text in the PDF")
    skipped = []
    if scanned:
        where = f"{source} (page{'s' if len(scanned) > 1 else ''} {_ranges(sorted(scanned))})"
        skipped.append(SkippedFile(where, f"no text layer on these pages (scanned?); {OCR_HINT}"))
    title, blocks = rebuild(drop_running_lines(text_pages), info_title)
    if not blocks:
        raise UnreadableFile("no text in the PDF besides headers and page numbers")
    document = Document(
        article_id=article_id,
        title=title or short_title(blocks[0].text),
        source=source,
        blocks=tuple(blocks),
    )
    return [document], skipped


def _read(data: bytes) -> tuple[list[PageText], set[int], str | None]:
    """Every page's text lines, the numbers of scanned pages, and the document-info title."""
    # Imported here: pdfminer is only needed when a PDF is indexed.
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams
    from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser, PDFSyntaxError
    from pdfminer.psparser import PSException

    try:
        document = PDFDocument(PDFParser(BytesIO(data)))
    except PDFPasswordIncorrect:
        raise UnreadableFile("password-protected PDF") from None
    except PDFEncryptionError as exc:
        raise UnreadableFile(f"encrypted PDF that cannot be read ({exc})") from None
    except (PDFSyntaxError, PSException) as exc:
        raise UnreadableFile(f"not a valid PDF ({exc})"[:200]) from None
    resources = PDFResourceManager()
    # A wide line margin keeps indented first lines and spaced paragraphs in their column's text
    # box (pdfminer's default splits them off); paragraphs are told apart in pdf_layout.
    device = PDFPageAggregator(resources, laparams=LAParams(line_margin=_LINE_MARGIN))
    interpreter = PDFPageInterpreter(resources, device)
    pages: list[PageText] = []
    scanned: set[int] = set()
    for number, page in enumerate(PDFPage.create_pages(document), start=1):
        interpreter.process_page(page)
        layout = device.get_result()
        lines, images = _page_lines(layout)
        if images and sum(len(line.text.strip()) for line in lines) < _SCANNED_PAGE_CHARS:
            scanned.add(number)
        pages.append(PageText(number, float(layout.height), tuple(lines)))
    return pages, scanned, _info_title(document)


def _page_lines(layout: Any) -> tuple[list[TextLine], bool]:
    """The page's text lines in pdfminer's reading order, and whether it shows images."""
    from pdfminer.layout import LTFigure, LTImage, LTTextBoxHorizontal, LTTextLineHorizontal

    lines: list[TextLine] = []
    images = False
    for box_number, element in enumerate(layout):
        if isinstance(element, (LTFigure, LTImage)):
            images = True
            continue
        if not isinstance(element, LTTextBoxHorizontal):
            continue
        for item in element:
            if isinstance(item, LTTextLineHorizontal):
                line = _text_line(item, box_number)
                if line is not None:
                    lines.append(line)
    return lines, images


def _text_line(item: Any, box: int) -> TextLine | None:
    from pdfminer.layout import LTChar

    chars = [c for c in item if isinstance(c, LTChar) and c.get_text().strip()]
    text = _CID.sub("", item.get_text()).translate(_LIGATURES).strip()
    if not chars or not text:
        return None
    bold = sum(_is_bold(c.fontname) for c in chars) * 2 > len(chars)
    return TextLine(
        text=" ".join(text.split()),
        x0=float(chars[0].x0),
        x1=float(max(c.x1 for c in chars)),
        bottom=float(item.y0),
        top=float(item.y1),
        size=round(float(median(c.size for c in chars)), 1),
        bold=bold,
        box=box,
    )


def _is_bold(fontname: object) -> bool:
    name = str(fontname).lower()
    return any(weight in name for weight in ("bold", "black", "heavy", "semibold"))


def _info_title(document: Any) -> str | None:
    """The document-info title, unless it is empty or names a file or template."""
    from pdfminer.pdftypes import resolve1
    from pdfminer.utils import decode_text

    for info in document.info:
        raw = resolve1(info.get("Title"))
        if isinstance(raw, bytes):
            title = " ".join(decode_text(raw).split())
        elif isinstance(raw, str):
            title = " ".join(raw.split())
        else:
            continue
        if title and not _GENERIC_TITLE.search(title):
            return title
    return None


def _ranges(numbers: list[int]) -> str:
    """"1-3, 7" for [1, 2, 3, 7]."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
