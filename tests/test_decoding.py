"""decoding.clean_text and clean_strings: the ASCII shortcut gives what the patterns give."""

from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from ingest.decoding import clean_strings, clean_text
from ingest.model import Extraction, FeedEntry

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
CONTROL_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def by_the_patterns(text: str, newlines: bool) -> str:
    if newlines:
        return CONTROL.sub("", text)
    return CONTROL_OR_BREAK.sub(lambda m: " " if m.group() in "\t\n\r\x85\u2028\u2029" else "", text)


def test_every_character_in_ascii_and_other_text() -> None:
    for char in [chr(c) for c in range(0x3000)] + ["\ud800", "\udfff", "\ufffe", "\uffff", "\U0001f600"]:
        for text in (f"a{char}b", f"\u00e9{char}", char * 3):
            for newlines in (True, False):
                assert clean_text(text, newlines=newlines) == by_the_patterns(text, newlines), (char, newlines)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0xA0), max_size=80), st.booleans())
def test_clean_text_is_the_patterns(text: str, newlines: bool) -> None:
    assert clean_text(text, newlines=newlines) == by_the_patterns(text, newlines)


def test_clean_strings_cleans_each_string_field_and_keeps_a_clean_record() -> None:
    clean = Extraction(text="Body\n\nmore\ttext", title="T", trail="fast: 20 chars")
    assert clean_strings(clean) is clean
    dirty = FeedEntry(guid="g\x00", link="https://example.com/\x7f", title="Caf\u00e9\x85 \ud800x", author="A")
    assert clean_strings(dirty) == FeedEntry(guid="g", link="https://example.com/", title="Caf\u00e9 x", author="A")
