"""The rule-based sentence splitter."""

from __future__ import annotations

import time

import pytest

from index.sentences import sentence_spans


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
        ("J. R. R. Tolkien wrote it. It sold well.", ["J. R. R. Tolkien wrote it.", "It sold well."]),
        ("The U.S. economy grew. Prices fell.", ["The U.S. economy grew.", "Prices fell."]),
        ("It was made in the U.S. The rest came from Canada.",
         ["It was made in the U.S.", "The rest came from Canada."]),
        ("Tools, e.g. hammers, are heavy. Use i.e. Latin. Fine.",
         ["Tools, e.g. hammers, are heavy.", "Use i.e. Latin.", "Fine."]),
        ("It rose 3.5 percent. See No. 5 on Jan. 12 in the report.",
         ["It rose 3.5 percent.", "See No. 5 on Jan. 12 in the report."]),
        ("“He wants peace,” said Foxman. “But we need it.” Then he left.",
         ["“He wants peace,” said Foxman.", "“But we need it.”", "Then he left."]),
        ('She said "go home." He did.', ['She said "go home."', "He did."]),
        ("“Really?” she asked. Yes!", ["“Really?” she asked.", "Yes!"]),
        ("Reach out to the Jews…. The king agreed... and smiled. Wait... What?",
         ["Reach out to the Jews….", "The king agreed... and smiled.", "Wait...", "What?"]),
        ("1. The first item.\n2. The second item.", ["1. The first item.", "2. The second item."]),
        ("Heading\nBody text (with a note.) Next one.", ["Heading", "Body text (with a note.)", "Next one."]),
        ("  Padded sentence.   Another.  ", ["Padded sentence.", "Another."]),
        ("No full stop at the end", ["No full stop at the end"]),
        ("", []),
    ],
)
def test_sentence_spans(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_offsets_point_into_the_original_text() -> None:
    text = "  First one.  Second one!\n\n  Third?"
    spans = sentence_spans(text)
    assert spans == [(2, 12), (14, 25), (29, 35)]


def test_long_inputs_stay_linear() -> None:
    started = time.perf_counter()
    sentences("word " * 50_000)
    sentences("x" * 200_000)
    sentences("." * 200_000 + " Next")
    assert len(sentences("It works. " * 20_000)) == 20_000
    assert time.perf_counter() - started < 2.0
