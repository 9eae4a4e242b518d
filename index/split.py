"""Cut a cleaned document into numbered, citable paragraphs that fit the embedding model.

Fragments shorter than ``min_chars`` (a lone short line, a subheading) are merged into the next
paragraph of the same section, or the previous one when nothing follows. Paragraphs longer than
the token budget are split at sentence boundaries into balanced pieces; a sentence longer than
the budget is split at clause, then word, then character boundaries, so no text is truncated.
Verbatim documents keep exactly one paragraph per given paragraph, however long.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from index.models import Article, Block, Document, Paragraph
from index.sentences import text_spans
from index.settings import SplitSettings

CountTokens = Callable[[str], int]
# Room left in the model's window for special tokens and the title the embedder prefixes.
RESERVED_TOKENS = 32
# Tokenizers map a word longer than ~100 characters (a base64 blob, a long URL) to one unknown
# token, so a token budget alone would let such a paragraph grow without bound; counting at
# least one token per this many characters bounds paragraphs in characters as well. Real text
# averages 4-6 characters per token, so this only bites on such runs.
MAX_CHARS_PER_TOKEN = 10
_CLAUSE_END = re.compile(r"[,;:)\]]\s+|\s+[—–-]{1,2}\s+|[—–]")
_WORD = re.compile(r"\S+")


def token_budget(max_tokens: int) -> int:
    """Tokens a paragraph may use when the model accepts ``max_tokens`` in all."""
    if max_tokens > 2 * RESERVED_TOKENS:
        return max_tokens - RESERVED_TOKENS
    # A tiny test model: keep a quarter in reserve instead.
    return max(8, max_tokens * 3 // 4)


def split_document(
    doc: Document, settings: SplitSettings, count_tokens: CountTokens, max_tokens: int
) -> Article:
    """Turn a cleaned document into an article of paragraphs numbered from 0."""
    if doc.verbatim:
        texts = [(block.text, block) for block in doc.blocks]
    else:
        limits = [limit for limit in (settings.max_tokens, max_tokens) if limit > 0]
        budget = token_budget(min(limits)) if limits else 0
        count = bounded_count(count_tokens)
        texts = []
        for block in _merge_short(list(doc.blocks), settings.min_chars):
            pieces = split_text(block.text, count, budget) if budget else [block.text]
            texts.extend((piece, block) for piece in pieces)
    paragraphs = tuple(
        Paragraph(
            article_id=doc.article_id, number=number, text=text, section=block.section,
            page=block.page,
        )
        for number, (text, block) in enumerate(texts)
    )
    return Article(
        article_id=doc.article_id,
        title=doc.title,
        source=doc.source,
        paragraphs=paragraphs,
        url=doc.url,
        date=doc.date,
    )


def bounded_count(count_tokens: CountTokens) -> CountTokens:
    """``count_tokens``, but at least one token per ``MAX_CHARS_PER_TOKEN`` characters."""

    def count(text: str) -> int:
        return max(count_tokens(text), -(-len(text) // MAX_CHARS_PER_TOKEN))

    return count


def _merge_short(blocks: list[Block], min_chars: int) -> list[Block]:
    """Join blocks shorter than ``min_chars`` to a neighbour of the same section."""
    merged: list[Block] = []
    pending: list[Block] = []
    for block in blocks:
        if pending and pending[-1].section != block.section:
            merged.extend(_flush_into_previous(merged, pending))
            pending = []
        if len(block.text) < min_chars:
            pending.append(block)
            continue
        if pending:
            # The merged paragraph starts where its first fragment does.
            text = "\n".join([*(b.text for b in pending), block.text])
            block = Block(text, block.section, pending[0].page)
            pending = []
        merged.append(block)
    merged.extend(_flush_into_previous(merged, pending))
    return merged


def _flush_into_previous(merged: list[Block], pending: list[Block]) -> list[Block]:
    """Attach trailing fragments to the last merged block of their section, else keep them."""
    if not pending:
        return []
    text = "\n".join(b.text for b in pending)
    if merged and merged[-1].section == pending[0].section:
        merged[-1] = replace(merged[-1], text=merged[-1].text + "\n" + text)
        return []
    return [Block(text, pending[0].section, pending[0].page)]


def split_text(text: str, count_tokens: CountTokens, budget: int) -> list[str]:
    """Split ``text`` into pieces of at most ``budget`` tokens, at the best boundaries available."""
    if count_tokens(text) <= budget:
        return [text]
    units: list[tuple[int, int, int]] = []
    # Headings count too: every word of the paragraph must land in one of its pieces.
    for start, end in text_spans(text):
        units.extend(_fitting_units(text, start, end, count_tokens, budget))
    # A tokenizer that adds special tokens counts them once per call, so summing unit counts
    # would overstate a joined piece; count them once per piece instead.
    overhead = min(count_tokens(""), budget // 2)
    sizes = [max(1, tokens - overhead) for _, _, tokens in units]
    pieces: list[str] = []
    for group in _balanced_groups(sizes, budget - overhead):
        first, last = group[0], group[-1]
        pieces.extend(_verified(text[units[first][0] : units[last][1]], count_tokens, budget))
    return pieces


def _verified(piece: str, count_tokens: CountTokens, budget: int) -> list[str]:
    """A piece whose joined count exceeds the estimate (tokenizers are not additive) is re-split."""
    if count_tokens(piece) <= budget:
        return [piece]
    spans = [(m.start(), m.end()) for m in _WORD.finditer(piece)]
    if len(spans) < 2:
        return _split_chars(piece, count_tokens, budget)
    half = len(spans) // 2
    return [
        *_verified(piece[: spans[half - 1][1]], count_tokens, budget),
        *_verified(piece[spans[half][0] :], count_tokens, budget),
    ]


def _fitting_units(
    text: str, start: int, end: int, count_tokens: CountTokens, budget: int
) -> list[tuple[int, int, int]]:
    """(start, end, tokens) of a sentence, or of its clauses/words/characters if it is too long."""
    tokens = count_tokens(text[start:end])
    if tokens <= budget:
        return [(start, end, tokens)]
    bounds = [m.end() for m in _CLAUSE_END.finditer(text, start, end)]
    if not bounds:
        return _word_units(text, start, end, count_tokens, budget, tokens)
    units = []
    for clause_start, clause_end in zip([start, *bounds], [*bounds, end], strict=True):
        piece = text[clause_start:clause_end]
        stripped_start = clause_start + len(piece) - len(piece.lstrip())
        stripped_end = clause_start + len(piece.rstrip())
        if stripped_end <= stripped_start:
            continue
        clause_tokens = count_tokens(text[stripped_start:stripped_end])
        if clause_tokens <= budget:
            units.append((stripped_start, stripped_end, clause_tokens))
        else:
            units.extend(
                _word_units(text, stripped_start, stripped_end, count_tokens, budget, clause_tokens)
            )
    return units


def _word_units(
    text: str, start: int, end: int, count_tokens: CountTokens, budget: int, tokens: int
) -> list[tuple[int, int, int]]:
    """Cut a run with no usable punctuation into word chunks that fit the budget."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
    if len(words) < 2:
        spans = _char_spans(text, start, end, count_tokens, budget)
        return [(s, e, count_tokens(text[s:e])) for s, e in spans]
    # Chunk by the average tokens per word, then verify each chunk (counting words one by one
    # would call the tokenizer once per word).
    per_chunk = max(1, int(budget * 0.9 * len(words) / max(tokens, 1)))
    units = []
    for first in range(0, len(words), per_chunk):
        chunk = words[first : first + per_chunk]
        chunk_start, chunk_end = chunk[0][0], chunk[-1][1]
        for piece_start, piece_end in _fit(text, chunk_start, chunk_end, count_tokens, budget):
            units.append((piece_start, piece_end, count_tokens(text[piece_start:piece_end])))
    return units


def _fit(
    text: str, start: int, end: int, count_tokens: CountTokens, budget: int
) -> list[tuple[int, int]]:
    """Halve a span at a word boundary until each part fits."""
    if count_tokens(text[start:end]) <= budget:
        return [(start, end)]
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
    if len(words) < 2:
        return _char_spans(text, start, end, count_tokens, budget)
    half = len(words) // 2
    return [
        *_fit(text, start, words[half - 1][1], count_tokens, budget),
        *_fit(text, words[half][0], end, count_tokens, budget),
    ]


def _char_spans(
    text: str, start: int, end: int, count_tokens: CountTokens, budget: int
) -> list[tuple[int, int]]:
    """Halve a single over-long word (a URL, a base64 blob) until each part fits."""
    if end - start <= 1 or count_tokens(text[start:end]) <= budget:
        return [(start, end)]
    middle = (start + end) // 2
    return [
        *_char_spans(text, start, middle, count_tokens, budget),
        *_char_spans(text, middle, end, count_tokens, budget),
    ]


def _split_chars(piece: str, count_tokens: CountTokens, budget: int) -> list[str]:
    return [piece[s:e] for s, e in _char_spans(piece, 0, len(piece), count_tokens, budget)]


def _balanced_groups(tokens: Sequence[int], budget: int) -> list[list[int]]:
    """Consecutive groups of unit indices, as few as the budget allows and as even as possible."""
    if not tokens:
        return []
    # The smallest cap that still packs into the fewest groups gives the most even pieces.
    low, high = max(tokens), max(budget, max(tokens))
    fewest = len(_pack(tokens, high))
    while low < high:
        cap = (low + high) // 2
        if len(_pack(tokens, cap)) <= fewest:
            high = cap
        else:
            low = cap + 1
    return _pack(tokens, low)


def _pack(tokens: Sequence[int], cap: int) -> list[list[int]]:
    groups: list[list[int]] = [[]]
    used = 0
    for index, value in enumerate(tokens):
        if groups[-1] and used + value > cap:
            groups.append([])
            used = 0
        groups[-1].append(index)
        used += value
    return groups
