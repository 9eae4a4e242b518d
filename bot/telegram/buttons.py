"""Inline keyboards under answers, and their compact callback data.

Callback data names an answer stored server side and a source index in it; never a paragraph.
The handler checks that the answer was sent to the chat the button was pressed in, so a forged
button cannot reveal anything an answer in that chat did not cite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

SOURCE = "s"
CONTEXT = "c"
MORE = "m"

_DATA = re.compile(r"([scm]):(\d{1,18}):(\d{1,3})")
_ROW = 4


@dataclass(frozen=True)
class ButtonPress:
    """A decoded callback: what to show (source, context, more) of which answer."""

    kind: str
    answer_id: int
    index: int


def encode(kind: str, answer_id: int, index: int = 0) -> str:
    """Callback data for a button (at most 24 bytes, far below Telegram's 64)."""
    return f"{kind}:{answer_id}:{index}"


def decode(data: str | None) -> ButtonPress | None:
    """Parse callback data; ``None`` for anything this bot did not make."""
    match = _DATA.fullmatch(data or "")
    if match is None:
        return None
    return ButtonPress(match.group(1), int(match.group(2)), int(match.group(3)))


def _source_rows(
    answer_id: int, first_index: int, numbers: list[int]
) -> list[list[InlineKeyboardButton]]:
    buttons = [
        InlineKeyboardButton(
            f"Source {n}", callback_data=encode(SOURCE, answer_id, first_index + i)
        )
        for i, n in enumerate(numbers)
    ]
    return [buttons[i : i + _ROW] for i in range(0, len(buttons), _ROW)]


def answer_keyboard(
    answer_id: int, numbers: list[int], has_more: bool
) -> InlineKeyboardMarkup | None:
    """A button per cited source (``numbers`` are their citation numbers), and More."""
    rows = _source_rows(answer_id, 0, numbers)
    if has_more:
        rows.append([InlineKeyboardButton("More results", callback_data=encode(MORE, answer_id))])
    return InlineKeyboardMarkup(rows) if rows else None


def more_keyboard(
    answer_id: int, first_index: int, numbers: list[int]
) -> InlineKeyboardMarkup | None:
    """Buttons for the further results shown by More."""
    rows = _source_rows(answer_id, first_index, numbers)
    return InlineKeyboardMarkup(rows) if rows else None


def context_keyboard(answer_id: int, index: int) -> InlineKeyboardMarkup:
    """The Context button under a source's paragraph."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("Context", callback_data=encode(CONTEXT, answer_id, index))]]
    )
