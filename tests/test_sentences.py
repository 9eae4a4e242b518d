"""The rule-based sentence splitter."""

from __future__ import annotations

import random

import pytest

from index.sentences import MAX_SENTENCE_CHARS, QUOTE_MAX_CHARS, sentence_spans, text_spans


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
        ("Heading\nBody text (with a note.) Next one.", ["Body text (with a note.)", "Next one."]),
        ("  Padded sentence.   Another.  ", ["Padded sentence.", "Another."]),
        ("It starts well. No full stop at the end", ["It starts well.", "No full stop at the end"]),
        ("", []),
    ],
)
def test_sentence_spans(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_offsets_point_into_the_original_text() -> None:
    text = "  First one.  Second one!\n\n  Third?"
    spans = sentence_spans(text)
    assert spans == [(2, 12), (14, 25), (29, 35)]


# benchmarks/hostile_inputs.py times these inputs (the splitter stays linear in them).
def test_long_inputs() -> None:
    for text in ("word " * 50_000, "x" * 200_000):
        pieces = sentences(text)
        assert pieces and max(len(p) for p in pieces) <= MAX_SENTENCE_CHARS
    assert sentences("." * 200_000 + " Next")[-1] == "Next"
    assert len(sentences("It works. " * 20_000)) == 20_000


def test_many_quotations_and_short_lines() -> None:
    assert len(sentences('"It works." ' * 5_000)) == 5_000
    assert len(sentences("“It works.” Smith said. " * 2_500)) == 2_500
    assert len(sentences('He said "no. ' * 5_000)) == 5_000
    assert sentences("Heading\n" * 10_000) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Titles before a name never end a sentence, at a paragraph's start or inside it.
        *[
            (f"{title} Allard spoke. He left.", [f"{title} Allard spoke.", "He left."])
            for title in ("Maj.", "Gen.", "Col.", "Lt.", "Sgt.", "Capt.", "Dr.", "Mr.", "Mrs.",
                          "Ms.", "Sen.", "Rep.", "Gov.", "Rev.", "Brig.", "Cpl.", "Pvt.", "Atty.")
        ],
        ("The call came at 8 a.m., said Maj. John Allard of the police.",
         ["The call came at 8 a.m., said Maj. John Allard of the police."]),
        ("Liberals like Sens. Bernie Sanders and Elizabeth Warren agree. Others do not.",
         ["Liberals like Sens. Bernie Sanders and Elizabeth Warren agree.", "Others do not."]),
        # "Jr.", "Sr." and "St." end a sentence only before a word that starts one.
        ("He met Martin Luther King Jr. The crowd cheered.",
         ["He met Martin Luther King Jr.", "The crowd cheered."]),
        ("Martin Luther King Jr. Day is a holiday.", ["Martin Luther King Jr. Day is a holiday."]),
        ("The lab was near Kiowa St. He chose it. She moved to St. Louis.",
         ["The lab was near Kiowa St.", "He chose it.", "She moved to St. Louis."]),
        # Dotted acronyms and times.
        ("The U.S. Army psychiatrist fired. It ended.", ["The U.S. Army psychiatrist fired.", "It ended."]),
        ("It opens at 9 a.m. Monday. It closes at 5 p.m. The guards leave then.",
         ["It opens at 9 a.m. Monday.", "It closes at 5 p.m.", "The guards leave then."]),
        # Months and "No." before a number.
        ("It was signed Sept. 11 and ratified Feb. 2. He ranked No. 1 in Dec. 2009.",
         ["It was signed Sept. 11 and ratified Feb. 2.", "He ranked No. 1 in Dec. 2009."]),
        # Initials.
        ("J. R. R. Tolkien met C. S. Lewis. They talked. John F. Kennedy came.",
         ["J. R. R. Tolkien met C. S. Lewis.", "They talked.", "John F. Kennedy came."]),
        ("Apollo flew on the Saturn V. The rocket worked.",
         ["Apollo flew on the Saturn V.", "The rocket worked."]),
    ],
)
def test_abbreviations(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A quoted sentence stays with its attribution, however the quotation ends.
        ('Relatives felt relief. “He was a mass murderer. I feel no pity,” said Susan Cohen, whose '
         "daughter was killed. The trial ended.",
         ["Relatives felt relief.",
          "“He was a mass murderer. I feel no pity,” said Susan Cohen, whose daughter was killed.",
          "The trial ended."]),
        ('"I submitted the documents on Sunday night." Bakri told CNN. "The attorney general '
         'went over them."',
         ['"I submitted the documents on Sunday night." Bakri told CNN.',
          '"The attorney general went over them."']),
        ("“Why now?” Griffin asked him. “Because it is time!” the senator, a Democrat, replied.",
         ["“Why now?” Griffin asked him.", "“Because it is time!” the senator, a Democrat, replied."]),
        # A sentence that has its speaker already, or a next sentence that does not name one,
        # is not an attribution.
        ('He calls the games "deposits in the health bank." He also continues to work.',
         ['He calls the games "deposits in the health bank."', "He also continues to work."]),
        ('Lugar told CNN that "people do not understand." To get things done, he said, you must '
         "compromise.",
         ['Lugar told CNN that "people do not understand."',
          "To get things done, he said, you must compromise."]),
        ('"We won." The team then flew home to a parade through the city center and a long '
         "night of celebrations with thousands of fans who had said they would come.",
         ['"We won."', "The team then flew home to a parade through the city center and a long "
          "night of celebrations with thousands of fans who had said they would come."]),
    ],
)
def test_quotations_keep_their_attribution(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"The people who left have no hope," he said. "We have hope. So we\'re here."',
         ['"The people who left have no hope," he said.', '"We have hope. So we\'re here."']),
        ("Forsberg said, “I heard shots. It was a pistol. One managed to escape.” Police came.",
         ["Forsberg said, “I heard shots. It was a pistol. One managed to escape.”", "Police came."]),
        ('"Dick," he said, "ye swore it. Would ye be forsworn? Would you desert me?"',
         ['"Dick," he said, "ye swore it. Would ye be forsworn? Would you desert me?"']),
        # Single quotes inside are apostrophes as often as quotations: they change nothing.
        ("“It's not 'Johnny did something bad.' It's about being a kid.” She smiled.",
         ["“It's not 'Johnny did something bad.' It's about being a kid.”", "She smiled."]),
        # A quotation left open runs on into the next paragraph: it does not join sentences.
        ('"I am more driven. I do not focus on anything else. It helps.',
         ['"I am more driven.', "I do not focus on anything else.", "It helps."]),
        # A stray closing quote joins the sentence before it instead of standing alone.
        ('"If I have a paper, that is all I do. No distractions. "',
         ['"If I have a paper, that is all I do. No distractions. "']),
    ],
)
def test_multi_sentence_quotations_stay_whole(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_a_long_quotation_is_split_at_its_sentences() -> None:
    quoted = " ".join(f"This is sentence number {i} of a long speech." for i in range(30))
    text = f"He said: “{quoted}” Then he sat down."
    assert len(quoted) > QUOTE_MAX_CHARS
    got = sentences(text)
    assert len(got) == 31
    assert got[0] == "He said: “This is sentence number 0 of a long speech."
    assert got[-2] == "This is sentence number 29 of a long speech.”"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rushing to the scene", []),
        ("Lockerbie victims' families: Relief, anger", []),
        ("1. Joe meets Rick again", []),
        ("The first part ended.\nRushing to the scene\nPolice arrived at noon.",
         ["The first part ended.", "Police arrived at noon."]),
        ("CHAPTER III\nTHE RETURN\nShe came home.", ["She came home."]),
        # A line broken inside a sentence is no heading: the next line does not start one.
        ("The common allotrope is called dioxygen, O\n2, which is a gas.",
         ["The common allotrope is called dioxygen, O", "2, which is a gas."]),
        ("Uptake of O\n2 from the air is the purpose of respiration.",
         ["Uptake of O", "2 from the air is the purpose of respiration."]),
        # Nor is a line after one that did not end a sentence, or a long line.
        ("He said of the film,\nThe Rules of the Game\nwas his best.",
         ["He said of the film,", "The Rules of the Game", "was his best."]),
        ("This line has no final punctuation but is far too long to be read as any kind of heading",
         ["This line has no final punctuation but is far too long to be read as any kind of heading"]),
        ("The list ends with:\nBread and butter.", ["The list ends with:", "Bread and butter."]),
    ],
)
def test_headings_are_not_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_text_spans_keep_headings() -> None:
    text = "The first part ended.\nRushing to the scene\nPolice arrived."
    assert [text[s:e] for s, e in text_spans(text)] == [
        "The first part ended.", "Rushing to the scene", "Police arrived."]


_FRAGMENTS = (
    "Maj. Hasan fired.", "“He was a mass murderer.", "I feel no pity,” said Cohen.",
    '"We have hope.', 'So we are here."', "Bakri told CNN.", "Rushing to the scene", "\n",
    "\n\n", "It rose 3.5 percent in the U.S. The rest fell.", "Why?", "“", "”", '"', "...",
    "J. R. R. Tolkien", "at 5 p.m. Monday", "1. First item", "He left", "(see note.)", "  ",
    "St. Louis", "King Jr. The end.", "»", "word " * 60,
)


@pytest.mark.parametrize("seed", range(200))
def test_spans_are_ordered_verbatim_slices_that_cover_every_word(seed: int) -> None:
    rng = random.Random(seed)
    text = " ".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 40)))
    everything = text_spans(text)
    chosen = sentence_spans(text)
    assert set(chosen) <= set(everything)
    previous_end = 0
    for start, end in everything:
        piece = text[start:end]
        assert previous_end <= start < end <= len(text)
        assert piece == piece.strip()
        assert end - start <= MAX_SENTENCE_CHARS
        previous_end = end
    # Every word of the text lies in some span: nothing is lost between them.
    gaps = [text[e:s] for (_, e), (s, _) in zip([(0, 0), *everything], [*everything, (len(text), 0)])]
    assert all(not gap.strip() for gap in gaps)
    # Spans are recomputed identically (the index stores them, the composer may re-split).
    assert sentence_spans(text) == chosen
