"""A tiny PDF writer for tests: text lines placed at exact positions, and image-only pages.

Real PDFs of articles are made by word processors and typesetters; the loader only sees
positioned runs of text, which is what this writes, so tests can lay out columns, running
headers, page numbers and hyphenated line ends precisely without a PDF library.
"""

from __future__ import annotations

from dataclasses import dataclass

# US Letter, in points.
PAGE_WIDTH = 612
PAGE_HEIGHT = 792


@dataclass(frozen=True)
class Line:
    """One run of text whose baseline starts at (x, y), in points from the bottom left."""

    x: float
    y: float
    text: str
    size: float = 10
    bold: bool = False
    # Extra space after each character (the PDF's Tc), as justified typesetting stretches lines.
    spacing: float = 0.0


@dataclass(frozen=True)
class Image:
    """A grey image covering the page's text area, as a scanner produces."""


def text_width(text: str, size: float = 10, bold: bool = False) -> float:
    """Width of ``text`` set in Helvetica at ``size`` points (the standard font's metrics)."""
    from pdfminer.fontmetrics import FONT_METRICS

    widths = FONT_METRICS["Helvetica-Bold" if bold else "Helvetica"][1]
    return sum(widths.get(ch, 556) for ch in text) * size / 1000


def paragraph(
    text: str, x: float, y: float, width: float, *, size: float = 10, indent: float = 0,
    justify: bool = False, leading: float = 1.2,
) -> list[Line]:
    """``text`` wrapped greedily at ``width`` points from the baseline ``y`` down, the first
    line indented by ``indent``; ``justify`` stretches every line but the last to the width.
    A "|" in a word marks where it may be hyphenated to fill a line (shown "hyph-" + "enated")."""
    rows: list[list[str]] = [[]]
    for word in text.split():
        room = width - (indent if len(rows) == 1 else 0)
        plain = word.replace("|", "")
        if rows[-1] and text_width(" ".join([*rows[-1], plain]), size) > room:
            head, bar, tail = word.partition("|")
            if bar and text_width(" ".join([*rows[-1], head + "-"]), size) <= room:
                rows[-1].append(head + "-")
                word = tail
            rows.append([])
        rows[-1].append(word.replace("|", ""))
    lines = []
    for number, row in enumerate(rows):
        line_text = " ".join(row)
        left = x + (indent if number == 0 else 0)
        spacing = 0.0
        if justify and number < len(rows) - 1 and len(line_text) > 1:
            room = x + width - left - text_width(line_text, size)
            spacing = room / (len(line_text) - 1)
        lines.append(Line(left, y - number * size * leading, line_text, size, spacing=spacing))
    return lines


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _content(items: list[Line | Image]) -> bytes:
    parts = []
    for item in items:
        if isinstance(item, Image):
            parts.append(b"q 500 0 0 700 56 46 cm /Im1 Do Q")
        else:
            font = b"/F2" if item.bold else b"/F1"
            parts.append(
                b"BT " + font + b" %g Tf %.4f Tc 1 0 0 1 %g %g Tm (" % (
                    item.size, item.spacing, item.x, item.y
                ) + _escape(item.text) + b") Tj ET"
            )
    return b"\n".join(parts)


def pdf_bytes(pages: list[list[Line | Image]], *, title: str | None = None) -> bytes:
    """A complete PDF of ``pages`` (Helvetica text, optional document-info title)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in once the page tree's number is known
    fonts = [
        add(b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>" % name)
        for name in (b"Helvetica", b"Helvetica-Bold")
    ]
    pixels = bytes([0x80, 0x40, 0x40, 0x80])
    image = add(
        b"<< /Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Length %d >>\nstream\n%s\nendstream" % (len(pixels), pixels)
    )
    tree = len(objects) + 1 + 2 * len(pages)
    kids = []
    for items in pages:
        stream = _content(items)
        contents = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> /XObject << /Im1 %d 0 R >> >> >>"
                % (tree, PAGE_WIDTH, PAGE_HEIGHT, contents, fonts[0], fonts[1], image)
            )
        )
    refs = b" ".join(b"%d 0 R" % kid for kid in kids)
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))) == tree
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    info = add(b"<< /Title (%s) >>" % _escape(title)) if title else None

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)
