"""Where a "." ends no sentence: after initials and abbreviations ("John F. Kennedy", "the U.S. market",
"Dr. Smith"), and after a company form when a parenthesis follows ("Acme Corp. (NASDAQ: ACME) announced").

ingest.promo reads it to find the sentence around a marked hit (its boilerplate spans), ingest.normalize
to cut summaries at whole sentences (and to start them below the heading lines above a lead: is_heading,
which ingest.importer reads too); it is a module of its own so that both can import it (ingest.promo
cannot import ingest.normalize, which imports ingest.promo).
"""

from __future__ import annotations

import re

__all__ = ["ABBREVIATION", "COMPANY_FORM", "continues_after", "is_heading"]

HEADING_MAX_CHARS = 100
HEADING_MAX_WORDS = 12
_FINAL_PUNCTUATION = tuple('.!?;:,"\'”’…)]')

# a word (opening brackets and quotes included) whose "." ends no sentence: initials ("U.S.", "F.") and
# common abbreviations: titles, company forms, months, addresses
ABBREVIATION = re.compile(r"[(\"“‘]*(?:(?:[A-Za-z]\.)+|(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Rev|Gen|Sen|Rep|Gov|Lt|Col|Capt"
                          r"|Inc|Corp|Co|Ltd|LLC|Bros|Plc|No|vs|approx|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec"
                          r"|Mt|Ave|Blvd)\.)", re.IGNORECASE)
# company forms end a name, and often a sentence: "... with QuantumScape Corp. BillionDollarClub offers ..."
COMPANY_FORM = re.compile(r"[(\"“‘]*(?:Inc|Corp|Co|Ltd|LLC|Bros|Plc)\.", re.IGNORECASE)


def continues_after(text: str, dot: int, following: str) -> bool:
    """Whether the sentence goes on after text[dot], a "." that white space and then `following` (the next
    character, "" at the end of the text) follow. It does after initials and abbreviations ("John F. Kennedy",
    "the U.S. market"); after a company form only into a parenthesis, a lower-case word or a number ("Solaris
    Grid Corp. (OTCQB: SLGD) is a client of ..."), not before a capitalized word ("QuantumScape Corp.
    BillionDollarClub offers ..." is two sentences)."""
    if text[dot] != ".":
        return False
    start = dot
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    if not ABBREVIATION.fullmatch(text, start, dot + 1):
        return False
    if COMPANY_FORM.fullmatch(text, start, dot + 1):
        return following == "(" or following.islower() or following.isdigit()
    return True


def is_heading(line: str) -> bool:
    """Whether a line of text is a heading, not a sentence: short (at most 12 words, 100 characters) and without
    final punctuation. A plain-text document's headings (ingest.importer), and the lines above a body's lead
    that no summary starts with ("FOR IMMEDIATE RELEASE", a photo credit, a section title: ingest.normalize)."""
    return (len(line) <= HEADING_MAX_CHARS and len(line.split()) <= HEADING_MAX_WORDS
            and not line.endswith(_FINAL_PUNCTUATION))
