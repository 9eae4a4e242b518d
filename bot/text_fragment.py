"""Links that open an article at the quoted sentence: URL text fragments (``#:~:text=``).

Browsers that support text fragments (the WICG "URL Fragment Text Directives" draft) scroll to
and highlight the quoted text; the others ignore the directive and open the page as usual. A
short quote is matched whole (``text=start``); a long one by its first and last words
(``text=start,end``), which keeps the link short and still highlights the whole passage. A PDF
paragraph with a known page opens at that page instead (``#page=N``), which PDF viewers
understand and text fragments do not reach.
"""

from __future__ import annotations

from urllib.parse import quote

# Quotes of more words than this are matched by their first and last words.
MAX_EXACT_WORDS = 10
# Words taken from each end of a long quote: enough to be unique in an article.
RANGE_WORDS = 5
_DIRECTIVE = ":~:"


def encode_text(text: str) -> str:
    """Percent-encode a text directive's term: everything but letters, digits and ``._~``.

    The spec's syntax characters must be escaped: "-" (prefix/suffix marks), "," (separates
    start and end) and "&" (separates directives); ``quote`` leaves "-" alone, so it is done
    here.
    """
    return quote(text, safe="").replace("-", "%2D")


def text_directive(quote_text: str) -> str | None:
    """``text=…`` for the quote (start only, or start,end for a long one); None if empty."""
    words = quote_text.split()
    if not words:
        return None
    if len(words) <= MAX_EXACT_WORDS:
        return "text=" + encode_text(" ".join(words))
    start = " ".join(words[:RANGE_WORDS])
    end = " ".join(words[-RANGE_WORDS:])
    return f"text={encode_text(start)},{encode_text(end)}"


def quote_url(url: str, quote_text: str, page: int | None = None) -> str | None:
    """``url`` opening at ``quote_text`` (or at ``page`` of a PDF); None for non-web URLs."""
    if not url.startswith(("http://", "https://")):
        return None
    base, _, fragment = url.partition("#")
    # An existing directive (a link copied from a browser) is replaced, its fragment kept.
    fragment = fragment.split(_DIRECTIVE, 1)[0]
    if page is not None:
        return f"{base}#page={page}"
    directive = text_directive(quote_text)
    if directive is None:
        return url
    return f"{base}#{fragment}{_DIRECTIVE}{directive}"
