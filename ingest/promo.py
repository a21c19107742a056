"""Promotional-content scoring: label, two scores, reasons and boilerplate spans.

Pure module: the only I/O is reading the rules file in `load_rules`. Everything the
classifier knows (phrase lists, weights, thresholds, network and wire lists, exchange
aliases, tail markers) comes from that file, so users tune behaviour without code.

Text model: `text` is plain text, paragraphs separated by blank lines (lines inside a
block by single newlines). It is split into three zones:

    lead  [0, lead_end)           the first real line (short heading lines before it included)
    body  [lead_end, tail_start)
    tail  [tail_start, len(text))  starts at the first tail-marker line after the lead
                                   ("About X", forward-looking statements, disclaimers,
                                   contact blocks, "Read More>>", SMS calls to action, ...)

Every tail section is a boilerplate span; rules with `mark = "sentence"` or `"match"` add
boilerplate spans inside the lead/body (e.g. seed 002's "X provides a platform for
companies to reach a wide audience of investors" sentence). `clean_text` drops them all.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.errors import ConfigError
from ingest.model import PromoResult, Reason, Span

__all__ = ["DEFAULT_RULES_PATH", "LABELS", "PromoResult", "Reason", "Rules", "RulesError", "Span",
           "classify", "clean_text", "load_rules"]

# config/promo_rules.toml; ingest/promo_rules.toml is a symlink to it, shipped as package data.
DEFAULT_RULES_PATH = (Path(__file__).parent / "promo_rules.toml").resolve()

PROMO, PRESS_RELEASE = "promo", "press_release"
LABELS = ("promotional", "press_release", "news")
ZONES = ("title", "summary", "lead", "body", "tail")
TEXT_ZONES = ("lead", "body", "tail")
FIELD_ZONES = ("title", "summary")  # short fields matched as a whole
RULE_KINDS = ("text", "source", "ticker", "section")
MARKS = ("none", "match", "sentence")
LEAD_MIN_CHARS = 60


class RulesError(ConfigError, ValueError):
    """The rules file is missing, unreadable, or has a wrong key, type or regex (CLI exit code 2)."""


# ---------------------------------------------------------------- rules objects


@dataclass(frozen=True)
class Rule:
    name: str
    score: str
    weight: float
    kind: str
    zones: frozenset[str]
    regex: re.Pattern[str] | None
    max_hits: int
    decisive: bool
    mark: str
    source_list: str
    section: str
    exchanges: frozenset[str]


@dataclass(frozen=True)
class SourceList:
    name_regex: re.Pattern[str] | None
    domains: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    """Compiled rules; build with `load_rules`, pass to `classify`. Immutable."""

    path: str
    promotional_threshold: float
    press_release_threshold: float
    rules: tuple[Rule, ...]
    source_lists: tuple[tuple[str, SourceList], ...]
    section_regex: re.Pattern[str] | None
    section_kinds: tuple[str, ...]
    paren_regex: re.Pattern[str]
    ticker_regex: re.Pattern[str] | None
    exchange_of_alias: tuple[tuple[str, str], ...]

    def source_list(self, name: str) -> SourceList:
        return dict(self.source_lists)[name]


# ---------------------------------------------------------------- loading


_TOP_KEYS = {"version", "labels", "lists", "exchanges", "sections", "rules"}
_RULE_KEYS = {
    "name", "score", "weight", "kind", "where", "phrases", "patterns", "lists",
    "case_sensitive", "max_hits", "decisive", "mark", "list", "section",
    "exchanges", "description",
}
_PLACEHOLDER = re.compile(r"<<([a-z_]+)>>")
_SYMBOL = r"[A-Z][A-Z0-9]{0,5}(?:[.\-][A-Z0-9]{1,3})?"


def load_rules(path: Path | None = None) -> Rules:
    """Read and compile a rules file (default: config/promo_rules.toml)."""
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{path}: cannot read rules file: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: invalid TOML: {exc}") from exc
    return _compile(_Reader(str(path)), data)


class _Reader:
    """Typed access to the parsed TOML with errors naming file, key and expected type."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, key: str, message: str) -> RulesError:
        return RulesError(f"{self.path}: {key}: {message}")

    def get(self, table: Mapping[str, Any], key: str, where: str, kind: type | tuple,
            expected: str, default: Any = ...) -> Any:
        full = f"{where}.{key}" if where else key
        if key not in table:
            if default is ...:
                raise self.error(full, f"missing, expected {expected}")
            return default
        value = table[key]
        if isinstance(value, bool) and kind is not bool and bool not in _as_tuple(kind):
            raise self.error(full, f"expected {expected}, got bool {value!r}")
        if not isinstance(value, kind):
            raise self.error(full, f"expected {expected}, got {type(value).__name__} {value!r}")
        return value

    def strings(self, table: Mapping[str, Any], key: str, where: str,
                default: Any = ...) -> tuple[str, ...]:
        value = self.get(table, key, where, list, "an array of strings", default)
        full = f"{where}.{key}" if where else key
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{full}[{i}]", f"expected a string, got {type(item).__name__} {item!r}")
        return tuple(value)

    def unknown(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                name = f"{where}.{key}" if where else key
                raise self.error(name, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _as_tuple(kind: type | tuple) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


RULES_VERSION = 1  # the rules-file format this module reads


def _compile(r: _Reader, data: dict[str, Any]) -> Rules:
    r.unknown(data, _TOP_KEYS, "")
    version = r.get(data, "version", "", int, "an integer", RULES_VERSION)
    if version != RULES_VERSION:
        raise r.error("version", f"this presswire reads rules-file version {RULES_VERSION}, got {version!r}")
    labels = r.get(data, "labels", "", dict, "a table")
    lists = _compile_lists(r, r.get(data, "lists", "", dict, "a table", {}))
    names = {name: sl_names for name, sl_names in _list_names(r, data)}
    section_kinds, section_regex = _compile_sections(r, r.get(data, "sections", "", dict, "a table", {}), names)
    aliases = _compile_exchanges(r, r.get(data, "exchanges", "", dict, "a table", {}))
    rules_raw = r.get(data, "rules", "", list, "an array of tables")
    rules = tuple(_compile_rule(r, raw, i, names, lists, section_kinds)
                  for i, raw in enumerate(rules_raw))
    _check_unique(r, rules)
    return Rules(
        path=r.path,
        promotional_threshold=float(r.get(labels, "promotional_threshold", "labels", (int, float), "a number")),
        press_release_threshold=float(r.get(labels, "press_release_threshold", "labels", (int, float), "a number")),
        rules=rules,
        source_lists=tuple(lists.items()),
        section_regex=section_regex,
        section_kinds=section_kinds,
        paren_regex=re.compile(r"\(([^()\n]{1,160})\)"),
        ticker_regex=_ticker_regex(aliases),
        exchange_of_alias=tuple(aliases.items()),
    )


def _list_names(r: _Reader, data: dict[str, Any]) -> Iterator[tuple[str, tuple[str, ...]]]:
    for name, table in data.get("lists", {}).items():
        yield name, r.strings(table, "names", f"lists.{name}", ())


def _compile_lists(r: _Reader, raw: dict[str, Any]) -> dict[str, SourceList]:
    out = {}
    for name, table in raw.items():
        where = f"lists.{name}"
        if not isinstance(table, dict):
            raise r.error(where, f"expected a table, got {type(table).__name__}")
        r.unknown(table, {"names", "domains", "description"}, where)
        names = r.strings(table, "names", where, ())
        domains = tuple(d.lower().lstrip(".") for d in r.strings(table, "domains", where, ()))
        out[name] = SourceList(_phrase_regex(names, case_sensitive=False), domains)
    return out


def _compile_sections(r: _Reader, raw: dict[str, Any],
                      names: dict[str, tuple[str, ...]]) -> tuple[tuple[str, ...], re.Pattern[str] | None]:
    parts, kinds = [], []
    for kind in raw:
        if not re.fullmatch(r"[a-z][a-z_]*", kind):
            raise r.error(f"sections.{kind}", "section kinds must be lower_snake_case names")
        patterns = r.strings(raw, kind, "sections")
        body = "|".join(f"(?:{_expand(r, p, names, f'sections.{kind}')})" for p in patterns)
        parts.append(f"(?P<{kind}>^(?:{body}))")
        kinds.append(kind)
    if not parts:
        return (), None
    return tuple(kinds), _regex(r, "|".join(parts), "sections", re.IGNORECASE | re.MULTILINE)


def _compile_exchanges(r: _Reader, raw: dict[str, Any]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for code in raw:
        for alias in r.strings(raw, code, "exchanges"):
            aliases[alias] = code
    return aliases


def _ticker_regex(aliases: dict[str, str]) -> re.Pattern[str] | None:
    if not aliases:
        return None
    alts = "|".join(re.escape(a) for a in sorted(aliases, key=len, reverse=True))
    return re.compile(rf"(?<![\w.])({alts})\s*:\s*({_SYMBOL})(?![\w])")


def _compile_rule(r: _Reader, raw: Any, i: int, names: dict[str, tuple[str, ...]],
                  lists: dict[str, SourceList], section_kinds: tuple[str, ...]) -> Rule:
    where = f"rules[{i}]"
    if not isinstance(raw, dict):
        raise r.error(where, f"expected a table, got {type(raw).__name__}")
    name = r.get(raw, "name", where, str, "a string")
    where = f"rules[{i}] ({name})"
    r.unknown(raw, _RULE_KEYS, where)
    kind = _choice(r, raw, "kind", where, RULE_KINDS, "text")
    zones = r.strings(raw, "where", where, ZONES)
    for zone in zones:
        if zone not in ZONES:
            raise r.error(f"{where}.where", f"expected zones from {list(ZONES)}, got {zone!r}")
    return Rule(
        name=name,
        score=_choice(r, raw, "score", where, (PROMO, PRESS_RELEASE)),
        weight=float(r.get(raw, "weight", where, (int, float), "a number")),
        kind=kind,
        zones=frozenset(zones),
        regex=_rule_regex(r, raw, where, kind, names) if kind == "text" else None,
        max_hits=_positive(r, raw, "max_hits", where),
        decisive=r.get(raw, "decisive", where, bool, "a boolean (true/false)", False),
        mark=_choice(r, raw, "mark", where, MARKS, "none"),
        source_list=_known(r, raw, "list", where, tuple(lists), kind == "source"),
        section=_known(r, raw, "section", where, section_kinds, kind == "section"),
        exchanges=frozenset(r.strings(raw, "exchanges", where, ())),
    )


def _rule_regex(r: _Reader, raw: dict[str, Any], where: str, kind: str,
                names: dict[str, tuple[str, ...]]) -> re.Pattern[str]:
    phrases = list(r.strings(raw, "phrases", where, ()))
    for list_name in r.strings(raw, "lists", where, ()):
        if list_name not in names:
            raise r.error(f"{where}.lists", f"unknown list {list_name!r} (known: {sorted(names)})")
        phrases.extend(names[list_name])
    patterns = [_expand(r, p, names, f"{where}.patterns") for p in r.strings(raw, "patterns", where, ())]
    case = r.get(raw, "case_sensitive", where, bool, "a boolean (true/false)", False)
    alts = ([_phrases_pattern(phrases, case)] if phrases else []) + [f"(?:{p})" for p in patterns]
    if not alts:
        raise r.error(where, "a text rule needs 'phrases', 'patterns' or 'lists'")
    return _regex(r, "|".join(alts), where, (0 if case else re.IGNORECASE) | re.MULTILINE)


def _choice(r: _Reader, raw: dict[str, Any], key: str, where: str,
            allowed: tuple[str, ...], default: Any = ...) -> str:
    value = r.get(raw, key, where, str, f"one of {list(allowed)}", default)
    if value not in allowed:
        raise r.error(f"{where}.{key}", f"expected one of {list(allowed)}, got {value!r}")
    return value


def _known(r: _Reader, raw: dict[str, Any], key: str, where: str,
           known: tuple[str, ...], required: bool) -> str:
    if not required:
        return ""
    value = r.get(raw, key, where, str, f"one of {list(known)}")
    if value not in known:
        raise r.error(f"{where}.{key}", f"expected one of {list(known)}, got {value!r}")
    return value


def _positive(r: _Reader, raw: dict[str, Any], key: str, where: str) -> int:
    value = r.get(raw, key, where, int, "a positive integer", 1)
    if value < 1:
        raise r.error(f"{where}.{key}", f"expected a positive integer, got {value!r}")
    return value


def _check_unique(r: _Reader, rules: tuple[Rule, ...]) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise r.error("rules", f"duplicate rule name {rule.name!r}")
        seen.add(rule.name)


def _expand(r: _Reader, pattern: str, names: dict[str, tuple[str, ...]], where: str) -> str:
    """Replace <<list>> placeholders with an alternation of that list's names."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            raise r.error(where, f"unknown list placeholder <<{m.group(1)}>>")
        return "(?:" + "|".join(_flex(n) for n in sorted(names[m.group(1)], key=len, reverse=True)) + ")"

    return _PLACEHOLDER.sub(sub, pattern)


def _regex(r: _Reader, pattern: str, where: str, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise r.error(where, f"invalid regular expression: {exc}") from exc


def _flex(phrase: str) -> str:
    """A literal phrase as a regex; any whitespace run matches any whitespace run."""
    return r"\s+".join(re.escape(word) for word in phrase.split())


def _phrases_pattern(phrases: list[str] | tuple[str, ...], case_sensitive: bool) -> str:
    """Word-bounded alternation of literal phrases, shaped as a trie so that Python's
    backtracking engine tries each leading character once instead of once per phrase."""
    trie: dict[str, Any] = {}
    for phrase in phrases:
        node = trie
        for atom in _atoms(phrase if case_sensitive else phrase.lower()):
            node = node.setdefault(atom, {})
        node[""] = {}
    return rf"(?<!\w)(?:{_trie_regex(trie)})(?!\w)"


def _atoms(phrase: str) -> Iterator[str]:
    for i, word in enumerate(phrase.split()):
        if i:
            yield r"\s+"
        yield from (re.escape(ch) for ch in word)


def _trie_regex(node: dict[str, Any]) -> str:
    branches = [atom + _trie_regex(child) for atom, child in sorted(node.items()) if atom]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def _phrase_regex(phrases: tuple[str, ...], case_sensitive: bool) -> re.Pattern[str] | None:
    if not phrases:
        return None
    return re.compile(_phrases_pattern(phrases, case_sensitive), 0 if case_sensitive else re.IGNORECASE)


# ---------------------------------------------------------------- classify


@dataclass(frozen=True)
class _Layout:
    lead_end: int
    tail_start: int
    sections: tuple[Span, ...]


@dataclass(frozen=True)
class _Hit:
    rule: Rule
    match: str
    start: int
    end: int
    field: str


def classify(text: str, *, title: str = "", summary: str = "", source_name: str = "",
             source_url: str = "", rules: Rules) -> PromoResult:
    """Score, label and segment one item. Pure and deterministic.

    `text` is the body (plain text, paragraphs separated by blank lines); `summary` is the feed's
    own summary, scored too and given its own boilerplate spans (it has no tail).
    """
    layout = _layout(text, rules)
    fields = {"title": title, "summary": summary, "text": text}
    tickers = _find_tickers(fields, rules)
    source = (source_name, source_url)
    hits = [h for rule in rules.rules for h in _hits(rule, fields, source, layout, tickers, rules)]
    reasons = tuple(_reasons(hits))
    promo = round(sum(x.weight for x in reasons if x.score == PROMO), 2)
    pr = round(sum(x.weight for x in reasons if x.score == PRESS_RELEASE), 2)
    return PromoResult(
        label=_label(promo, pr, reasons, rules),
        promo_score=promo,
        pr_score=pr,
        reasons=reasons,
        boilerplate=_boilerplate(text, layout, [h for h in hits if h.field == "text"]),
        tickers=tuple(dict.fromkeys(f"{t.code}:{t.symbol}" for t in tickers)),
        lead_end=layout.lead_end,
        tail_start=layout.tail_start,
        summary_boilerplate=_boilerplate(summary, _Layout(len(summary), len(summary), ()),
                                         [h for h in hits if h.field == "summary"]),
    )


def clean_text(text: str, result: PromoResult, *, field: str = "text") -> str:
    """`text` without its boilerplate spans, whitespace tidied. field="summary" for the feed summary
    that was passed to classify as `summary`."""
    spans = result.summary_boilerplate if field == "summary" else result.boilerplate
    kept, pos = [], 0
    for span in spans:
        kept.append(text[pos:span.start])
        pos = max(pos, span.end)
    kept.append(text[pos:])
    paragraphs = re.split(r"\n\s*\n", "".join(kept))
    tidy = ("\n".join(_tidy_lines(p)) for p in paragraphs)
    return "\n\n".join(p for p in tidy if p)


def _tidy_lines(paragraph: str) -> Iterator[str]:
    for line in paragraph.split("\n"):
        line = re.sub(r"[ \t]+", " ", line).strip()
        if line:
            yield line


def _label(promo: float, pr: float, reasons: tuple[Reason, ...], rules: Rules) -> str:
    decisive = {rule.name for rule in rules.rules if rule.decisive}
    if any(x.rule in decisive for x in reasons) or promo >= rules.promotional_threshold:
        return "promotional"
    if pr >= rules.press_release_threshold:
        return "press_release"
    return "news"


# ---------------------------------------------------------------- layout


def _layout(text: str, rules: Rules) -> _Layout:
    lead_end = _lead_end(text)
    markers = list(_section_markers(text, lead_end, rules))
    if not markers:
        return _Layout(lead_end, len(text), ())
    ends = [start for start, _ in markers[1:]] + [len(text.rstrip())]
    sections = tuple(Span(start, _rstrip_end(text, start, end), kind)
                     for (start, kind), end in zip(markers, ends))
    return _Layout(lead_end, markers[0][0], sections)


def _lead_end(text: str) -> int:
    """End of the first substantial line (short heading lines before it belong to the lead)."""
    pos = 0
    for line in text.split("\n"):
        end = pos + len(line)
        stripped = line.strip()
        if len(stripped) >= LEAD_MIN_CHARS or stripped.endswith((".", "!", "?")):
            return end
        pos = end + 1
    return len(text)


def _section_markers(text: str, lead_end: int, rules: Rules) -> Iterator[tuple[int, str]]:
    """(start, kind) of each marker line; a marker of the same kind as the previous one
    continues that section ("Forward-Looking Statements" heading, then its paragraph)."""
    if rules.section_regex is None:
        return
    previous = ""
    for m in rules.section_regex.finditer(text, lead_end):
        if m.lastgroup != previous:
            yield m.start(), m.lastgroup or ""
        previous = m.lastgroup or ""


def _rstrip_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _zone(pos: int, layout: _Layout) -> str:
    if pos < layout.lead_end:
        return "lead"
    return "body" if pos < layout.tail_start else "tail"


# ---------------------------------------------------------------- hits


@dataclass(frozen=True)
class _Ticker:
    code: str
    symbol: str
    match: str
    start: int
    end: int
    field: str


def _hits(rule: Rule, fields: dict[str, str], source: tuple[str, str],
          layout: _Layout, tickers: list[_Ticker], rules: Rules) -> Iterator[_Hit]:
    if rule.kind == "text":
        return _text_hits(rule, fields, layout)
    if rule.kind == "source":
        return _source_hits(rule, rules.source_list(rule.source_list), *source)
    if rule.kind == "ticker":
        return _ticker_hits(rule, tickers, layout)
    return _section_hits(rule, fields["text"], layout)


def _text_hits(rule: Rule, fields: dict[str, str], layout: _Layout) -> Iterator[_Hit]:
    assert rule.regex is not None
    for field in FIELD_ZONES:
        if field in rule.zones:
            for m in rule.regex.finditer(fields[field]):
                yield _Hit(rule, m.group(), m.start(), m.end(), field)
    if rule.zones & set(TEXT_ZONES):
        for m in rule.regex.finditer(fields["text"]):
            if _zone(m.start(), layout) in rule.zones:
                yield _Hit(rule, m.group(), m.start(), m.end(), "text")


def _source_hits(rule: Rule, source_list: SourceList, name: str, url: str) -> Iterator[_Hit]:
    m = source_list.name_regex.search(name) if source_list.name_regex and name else None
    if m:
        yield _Hit(rule, m.group(), m.start(), m.end(), "source_name")
        return
    host = (urlsplit(url).hostname or "") if url else ""
    for domain in source_list.domains:
        if host == domain or host.endswith("." + domain):
            start = url.lower().find(host)
            yield _Hit(rule, host, start, start + len(host), "source_url")
            return


def _section_hits(rule: Rule, text: str, layout: _Layout) -> Iterator[_Hit]:
    for span in layout.sections:
        if span.kind == rule.section:
            line_end = text.find("\n", span.start, span.end)
            end = span.end if line_end == -1 else line_end
            yield _Hit(rule, text[span.start:end].strip(), span.start, end, "text")


def _ticker_hits(rule: Rule, tickers: list[_Ticker], layout: _Layout) -> Iterator[_Hit]:
    for t in tickers:
        zone = _zone(t.start, layout) if t.field == "text" else t.field
        if zone in rule.zones and (not rule.exchanges or t.code in rule.exchanges):
            yield _Hit(rule, t.match, t.start, t.end, t.field)


def _find_tickers(fields: dict[str, str], rules: Rules) -> list[_Ticker]:
    """Exchange:symbol pairs inside parentheses, e.g. "(NASDAQ: QS)", "(CSE: ABC; OTCQB: ABCF)"."""
    if rules.ticker_regex is None:
        return []
    codes = dict(rules.exchange_of_alias)
    found = []
    for field, value in fields.items():
        for paren in rules.paren_regex.finditer(value):
            for m in rules.ticker_regex.finditer(value, paren.start(1), paren.end(1)):
                found.append(_Ticker(codes[m.group(1)], m.group(2), m.group(), m.start(), m.end(), field))
    return found


# ---------------------------------------------------------------- reasons and spans


def _reasons(hits: list[_Hit]) -> Iterator[Reason]:
    """Counted hits: the same text matched twice (title and body, summary and lead) counts once,
    and a rule counts at most `max_hits` times."""
    counts: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    for hit in hits:
        key = (hit.rule.name, " ".join(hit.match.lower().split()))
        n = counts.get(hit.rule.name, 0)
        if n >= hit.rule.max_hits or key in seen:
            continue
        counts[hit.rule.name] = n + 1
        seen.add(key)
        yield Reason(hit.rule.name, hit.rule.score, hit.rule.weight, hit.match,
                     hit.start, hit.end, hit.field)


_SENTENCE_START = re.compile(r"[.!?][\"”’)\]]*\s+(?=[A-Z\"“(])")
_SENTENCE_END = re.compile(r"[.!?][\"”’)\]]*(?=\s+[A-Z\"“(]|\s*$)", re.MULTILINE)


def _boilerplate(text: str, layout: _Layout, hits: list[_Hit]) -> tuple[Span, ...]:
    inline = sorted(_inline_span(text, h) for h in hits
                    if h.rule.mark != "none" and h.start < layout.tail_start)
    merged: list[Span] = []
    for span in inline:
        span = Span(span.start, min(span.end, layout.tail_start), span.kind)
        if merged and span.start <= merged[-1].end:
            last = merged.pop()
            span = Span(last.start, max(last.end, span.end), last.kind)
        merged.append(span)
    return tuple(merged) + layout.sections


def _inline_span(text: str, hit: _Hit) -> Span:
    if hit.rule.mark == "match":
        return Span(hit.start, hit.end, hit.rule.name)
    line_start = text.rfind("\n", 0, hit.start) + 1
    line_end = text.find("\n", hit.end)
    line_end = len(text) if line_end == -1 else line_end
    start = line_start
    for m in _SENTENCE_START.finditer(text, line_start, hit.start):
        start = m.end()
    m = _SENTENCE_END.search(text, hit.end, line_end)
    return Span(start, m.end() if m else _rstrip_end(text, hit.end, line_end), hit.rule.name)
