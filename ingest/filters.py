"""What a reader asked for -> an ItemQuery. Shared by the CLI (`items list`, `export`) and the web API,
so `--since 7d` and `?since=7d` mean the same thing.

Times: an ISO date (2025-05-15, midnight UTC), an ISO date-time (naive = UTC; Z or an offset allowed),
or an age: "90m", "24h", "7d" (that long before now).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Mapping

from ingest.errors import PresswireError
from ingest.model import ItemQuery
from ingest.promo import LABELS

MAX_SEARCH_WORDS = 50
_WORD = re.compile(r"\w+", re.UNICODE)  # a search word, as store/search.py splits the text
_AGE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


class FilterError(PresswireError):
    """A filter value the reader gave cannot be understood."""

    exit_code = 2


def parse_when(text: str, now: datetime, name: str = "time") -> datetime:
    """An aware UTC datetime from an ISO date/date-time or an age like "7d".

    A time outside datetime's years 1-9999 (an age of a million days; 0001-01-01T00:00:00+01:00, which is
    in year 0 in UTC) is a FilterError too, not an OverflowError: readers get a 400 or exit 2, not a crash."""
    match = _AGE.match(text)
    try:
        if match:
            return now - int(match.group(1)) * _UNITS[match.group(2)]
        when = datetime.fromisoformat(text.strip().replace("z", "Z"))
        return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    except OverflowError:
        raise FilterError(f"{name} {text!r}: out of range (dates run from year 1 to 9999)") from None
    except ValueError:
        raise FilterError(f"{name} {text!r}: expected a date (2025-05-15), a date-time "
                          f"(2025-05-15T16:00:00Z) or an age (90m, 24h, 7d, 2w)") from None


def item_query(now: datetime, *, source_id: int | None = None, since: str | None = None,
               until: str | None = None, search: str | None = None, changed_since: str | None = None,
               label: str | None = None, exclude_labels: tuple[str, ...] = (), ticker: str | None = None,
               all_copies: bool = False, limit: int | None = 50, offset: int = 0,
               max_id: int | None = None) -> ItemQuery:
    """An ItemQuery from the readers' string values (None or "" = no filter)."""
    def when(value: str | None, name: str) -> datetime | None:
        return parse_when(value, now, name) if value else None

    return ItemQuery(source_id=source_id, since=when(since, "since"), until=when(until, "until"),
                     search=_search(search), changed_since=when(changed_since, "changed-since"),
                     label=_label(label), exclude_labels=exclude_labels, ticker=_ticker(ticker),
                     all_copies=all_copies, limit=limit, offset=offset, max_id=max_id)


def _search(value: str | None) -> str:
    """The search text, at most MAX_SEARCH_WORDS words. Each word is one more term for the database to match
    and rank every candidate by: 1,000 copies of one word in a query (an 8 kB URL) took 2.5 s on SQLite,
    3,000 took 21 s (and 7 s on PostgreSQL), while nobody types 50 words into a search box."""
    words = len(_WORD.findall(value or ""))
    if words > MAX_SEARCH_WORDS:
        raise FilterError(f"search text of {words} words: at most {MAX_SEARCH_WORDS} words")
    return value or ""


def _label(value: str | None) -> str | None:
    if value and value not in LABELS:
        raise FilterError(f"label {value!r}: expected one of {', '.join(LABELS)}")
    return value or None


def _ticker(value: str | None) -> str | None:
    ticker = "".join((value or "").split()).upper()
    if ticker and not re.fullmatch(r"(?:[A-Z0-9.\-]{1,16}:)?[A-Z0-9.\-]{1,16}", ticker):
        raise FilterError(f"ticker {value!r}: expected a symbol (QS) or EXCHANGE:SYMBOL (NASDAQ:QS)")
    return ticker or None


def query_from_params(params: Mapping[str, str], now: datetime, *, page_size: int, max_page_size: int = 200,
                      exclude_labels: tuple[str, ...] = ()) -> tuple[ItemQuery, int]:
    """(the query, the page number) from URL parameters: source, since, until, q, label, ticker, copies
    ("all": every copy of a story), limit, page, max_id (items stored up to that article id: the links to a
    walk's other pages carry it). `exclude_labels` applies only when no label is asked for."""
    limit = _int_param(params, "limit", page_size, 1, max_page_size)
    page = _int_param(params, "page", 1, 1, 1_000_000)
    source = params.get("source") or None
    source_id = _int_param(params, "source", 0, 1, 2**31 - 1) if source else None  # PostgreSQL's INTEGER
    max_id = _int_param(params, "max_id", 0, 1, 2**31 - 1) if params.get("max_id") else None
    query = item_query(now, source_id=source_id, since=params.get("since"), until=params.get("until"),
                       search=params.get("q"), label=params.get("label"), ticker=params.get("ticker"),
                       exclude_labels=() if params.get("label") else exclude_labels,
                       all_copies=_copies_param(params), limit=limit, offset=(page - 1) * limit, max_id=max_id)
    return query, page


def _copies_param(params: Mapping[str, str]) -> bool:
    value = params.get("copies") or "canonical"
    if value not in ("canonical", "all"):
        raise FilterError(f"copies {value!r}: expected canonical (one row per story, the default) or all")
    return value == "all"


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,12}", raw) or not low <= int(raw) <= high:
        raise FilterError(f"{name} {raw!r}: expected a whole number from {low} to {high}")
    return int(raw)
