"""How fast PDF and .docx articles load: pages (or paragraphs) per second through the loaders.

Without arguments it writes a synthetic two-column PDF (running header, page numbers, justified
paragraphs that cross columns and pages; see tests/pdf_writer.py) and a .docx of the same
paragraphs, and loads each a few times. Given files, it loads those instead.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

SENTENCE = ("The colony keeps the brood nest at a steady temperature by clustering and fanning, "
            "and foragers bring back nectar, pollen and water from up to five kilometres away. ")


def synthetic_pdf(pages: int) -> bytes:
    """A two-column article of ``pages`` pages with a header and a page number on each."""
    from pdf_writer import Line, paragraph, pdf_bytes

    out = []
    for number in range(1, pages + 1):
        items: list[Line] = [Line(72, 760, "Field Notes on Insects, Vol. 3"),
                             Line(300, 40, str(number))]
        for x in (72, 320):
            y = 700.0
            while y > 100:
                lines = paragraph(SENTENCE * 3, x, y, 220, indent=14, justify=True)
                items.extend(lines)
                y -= 12 * len(lines) + 6
        out.append(items)
    return pdf_bytes(out)


def synthetic_docx(paragraphs: int) -> bytes:
    """A .docx of ``paragraphs`` paragraphs under a heading every ten."""
    import docx

    word = docx.Document()
    word.add_heading("Field Notes", 0)
    for number in range(paragraphs):
        if number % 10 == 0:
            word.add_heading(f"Part {number // 10 + 1}", 1)
        word.add_paragraph(SENTENCE * 3)
    out = io.BytesIO()
    word.save(out)
    return out.getvalue()


def measure(name: str, data: bytes, unit: str, count: int, repeats: int) -> None:
    """Load ``data`` ``repeats`` times and print the median time and rate."""
    from index.loaders.docx import parse_docx
    from index.loaders.pdf import parse_pdf

    seconds = []
    blocks = 0
    for _ in range(repeats):
        started = time.perf_counter()
        if name.endswith(".pdf"):
            documents, _skipped = parse_pdf(data, article_id="a", source=name)
            blocks = len(documents[0].blocks)
        else:
            blocks = len(parse_docx(data, article_id="a", source=name).blocks)
        seconds.append(time.perf_counter() - started)
    best = statistics.median(seconds)
    print(f"{name}: {len(data) / 1e6:.2f} MB, {count} {unit}, {blocks} paragraphs: "
          f"{best:.3f} s median of {repeats}, {count / best:.1f} {unit}/s")


def main() -> None:
    """Parse arguments and print one line per file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*", type=Path, help="PDF or .docx files to load")
    parser.add_argument("--pages", type=int, default=20, help="pages of the synthetic PDF")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.files:
        for path in args.files:
            measure(path.name, path.read_bytes(), "files", 1, args.repeats)
        return
    measure("synthetic.pdf", synthetic_pdf(args.pages), "pages", args.pages, args.repeats)
    measure("synthetic.docx", synthetic_docx(args.pages * 14), "paragraphs", args.pages * 14,
            args.repeats)


if __name__ == "__main__":
    main()
