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

import itertools
import re
import tomllib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from re import _constants as sre
from re import _parser as sre_parse
from typing import Any
from urllib.parse import urlsplit

from ingest.errors import ConfigError
from ingest.model import PromoResult, Reason, Span
from ingest.sentences import continues_after

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
    matcher: _Matcher | None
    max_hits: int
    decisive: bool
    mark: str
    source_list: str
    section: str
    exchanges: frozenset[str]
    unless: re.Pattern[str] | None = None  # a hit whose sentence matches this is not counted


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
    section_matcher: _Matcher | None
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
    "exchanges", "description", "unless",
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
    section_kinds, section_matcher = _compile_sections(r, r.get(data, "sections", "", dict, "a table", {}), names)
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
        section_matcher=section_matcher,
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
                      names: dict[str, tuple[str, ...]]) -> tuple[tuple[str, ...], _Matcher | None]:
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
    return tuple(kinds), _matcher(r, parts, "sections", re.IGNORECASE | re.MULTILINE)


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
        matcher=_rule_matcher(r, raw, where, names) if kind == "text" else None,
        max_hits=_positive(r, raw, "max_hits", where),
        decisive=r.get(raw, "decisive", where, bool, "a boolean (true/false)", False),
        mark=_choice(r, raw, "mark", where, MARKS, "none"),
        source_list=_known(r, raw, "list", where, tuple(lists), kind == "source"),
        section=_known(r, raw, "section", where, section_kinds, kind == "section"),
        exchanges=frozenset(r.strings(raw, "exchanges", where, ())),
        unless=_unless_regex(r, raw, where, names),
    )


def _rule_matcher(r: _Reader, raw: dict[str, Any], where: str,
                  names: dict[str, tuple[str, ...]]) -> _Matcher:
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
    return _matcher(r, alts, where, (0 if case else re.IGNORECASE) | re.MULTILINE)


def _unless_regex(r: _Reader, raw: dict[str, Any], where: str,
                  names: dict[str, tuple[str, ...]]) -> re.Pattern[str] | None:
    """The sentences in which a rule's match does not count (e.g. a payment the sentence attributes to
    someone else: ", the SEC said"); searched in the hit's sentence only, so a plain regex."""
    patterns = [_expand(r, p, names, f"{where}.unless") for p in r.strings(raw, "unless", where, ())]
    if not patterns:
        return None
    case = r.get(raw, "case_sensitive", where, bool, "a boolean (true/false)", False)
    return _regex(r, "|".join(f"(?:{p})" for p in patterns), f"{where}.unless",
                  (0 if case else re.IGNORECASE) | re.MULTILINE)


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


# ---------------------------------------------------------------- fast matching
#
# Python's re engine tries a case-insensitive pattern at every position of the text (it skips
# ahead only to a case-sensitive literal prefix), so each rule regex costs a full pass over the
# body whatever the body says: ~7 ms for all rules on an 8 KB article. A _Matcher finds the same
# matches for a fraction of that, from two facts derived from each alternative of its regex (the
# phrase list, or one pattern) when the rules are loaded, so a tuned rules file gets them too:
#
#   needs   words the text must contain for the alternative to match anywhere, e.g. one of
#           compensated/paid/retained/engaged/hired, and one of for/to/in connection with.
#           Alternatives whose needs fail cannot match, and the alternation without them has
#           the same matches. Checked against the set of the text's words (one pass for all rules).
#   starts  where a match can begin: where one of a few literal strings occurs ("today", "$"),
#           or at a line start (`^...`), maybe followed by one of a few literals. When every
#           alternative left has starts, the regex is tried there only (re.match at each
#           position, in order, as finditer would).
#
# Both are necessary conditions derived from the parsed regex, never guesses. Texts where they
# could fail (characters that re.IGNORECASE matches to ASCII letters: _UNFOLDABLE) get the plain
# regex; tests/test_promo.py checks that list against every Unicode character, and
# bench/promo_identity.py compares the results with the plain regexes on thousands of texts.

_BOUND = "\ue000"     # a word boundary here (\b): a non-word character or the edge of the text next
_LINE = "\ue001"      # the start of a line here (^)
_SEP = "\ue002"       # one or more non-word characters (\s+, [\s:]+, ...)
_ANY = "\ue003"       # one or more characters of any kind
_MARKERS = _BOUND + _LINE + _SEP + _ANY
_MAX_STRINGS = 64     # literal sets larger than this are given up (they tell nothing)
_MAX_CASES = 64       # top-level branches followed separately (e.g. the phrases of a list)
_MAX_NEEDS = 3        # sets of words checked per case: the most selective ones
_MAX_STARTS = 32      # literal starts looked for (else their shortest distinct prefixes)
_UNFOLDABLE = "\u017f\u0131\u0130\u212a"  # ſ ı İ K: re.IGNORECASE matches them to s, i, i, k
_WORD_RUN = re.compile(r"[a-z0-9_]+")
_TAIL = re.compile(r"[^a-z0-9_][a-z0-9_]*\Z")
_HEAD = re.compile(r"[a-z0-9_]*[^a-z0-9_]")
_WORD_BYTES = bytes(c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c == 95) else 32
                    for c in range(256))  # lowercase ASCII word bytes; any other byte separates words


@dataclass(frozen=True)
class _Need:
    """One of some literal strings must be in the text; a string is there if all its words are:
    whole words in `scan.words`, word parts in `scan.joined` (b" pre" a word start, b"fix " an end)."""

    words: frozenset[bytes]                                          # one-word strings: whole words
    parts: tuple[bytes, ...]                                         # one-word strings: word parts
    phrases: tuple[tuple[frozenset[bytes], tuple[bytes, ...]], ...]  # longer strings: words, parts

    def met(self, scan: _Scan) -> bool:
        if not self.words.isdisjoint(scan.words):
            return True
        for part in self.parts:
            if part in scan.joined:
                return True
        for words, parts in self.phrases:
            if words <= scan.words and all(part in scan.joined for part in parts):
                return True
        return False

    @property
    def gate(self) -> frozenset[bytes] | None:
        """Whole words one of which must be in the text to meet this, if there are such words."""
        if self.parts or not all(w for w, _ in self.phrases):
            return None
        return self.words | {min(w) for w, _ in self.phrases}

    def cost(self) -> tuple[int, int]:
        """Checks in the joined words, then minus the length of the shortest word (rarer words first)."""
        probes = [*self.words, *self.parts, *(p for w, ps in self.phrases for p in (*w, *ps))]
        return len(self.parts) + 4 * len(self.phrases), -min((len(p.strip()) for p in probes), default=0)


@dataclass(frozen=True)
class _Case:
    """One branch of an alternative (one phrase of a list, one line of a `(?:A|B)` pattern)."""

    needs: tuple[_Need, ...]                      # all of these
    starts: tuple[tuple[str, _Need | None], ...] | None  # matches start with one of these literals
                                                         # (if the need is met); None: anywhere
    line_starts: tuple[str, ...] | None           # or at a line start followed by one of these
                                                  # (None: by anything)
    gate: frozenset[bytes] | None = None          # whole words one of which the text must have

    @classmethod
    def of(cls, needs: tuple[_Need, ...], starts: tuple[tuple[str, _Need | None], ...] | None,
           line_starts: tuple[str, ...] | None) -> _Case:
        return cls(needs, starts, line_starts, next((g for n in needs if (g := n.gate) is not None), None))

    def possible(self, scan: _Scan) -> bool:
        if self.gate is not None and self.gate.isdisjoint(scan.words):
            return False
        for need in self.needs:
            if not need.met(scan):
                return False
        return True


@dataclass(frozen=True)
class _Alternative:
    pattern: str
    cases: tuple[_Case, ...]              # a match is a match of one of these
    gate: frozenset[bytes] | None = None  # whole words one of which the text must have

    @classmethod
    def of(cls, pattern: str, cases: tuple[_Case, ...]) -> _Alternative:
        gates = [c.gate for c in cases]
        return cls(pattern, cases, None if None in gates else frozenset().union(*gates))


@dataclass(frozen=True)
class _Matcher:
    """A regex that is an alternation, with what each alternative needs. `finditer` = regex.finditer.

    What the alternatives need is worked out on first use (_split), not by load_rules: a process that
    loads the rules but classifies nothing (backfill and the service, whose workers classify) skips it
    (~0.13 s of a command's start). The workers' forkserver works it out once (ingest.preload, prepare)."""

    regex: re.Pattern[str]
    patterns: tuple[str, ...] = ()  # the alternatives the regex joins; () when it is not to be split
    flags: int = 0                  # those load_rules compiled the regex with

    @cached_property
    def _split(self) -> tuple[tuple[_Alternative, ...], frozenset[bytes], bool]:
        """(what each alternative needs, the words one of which the text must have, whether some alternative
        has no such words so that the text need not); no alternatives when the regex cannot be split
        (backreferences): it is then run as it is."""
        try:
            alternatives = tuple(_analyse(p, self.flags) for p in self.patterns)
        except Exception:  # noqa: BLE001 - a speed-up only: what it cannot follow keeps the plain regex
            return (), frozenset(), True
        gates = [a.gate for a in alternatives]
        return alternatives, frozenset().union(*(g for g in gates if g)), None in gates

    @cached_property
    def empty(self) -> bool:
        """Whether it matches the empty string."""
        return self.regex.match("") is not None

    def finditer(self, scan: _Scan, pos: int = 0, stop: int | None = None) -> Iterable[re.Match[str]]:
        """regex.finditer(text, pos), maybe without the matches that start at or after `stop`."""
        if not scan.text and not self.empty:
            return ()
        alternatives, gate, open_ = self._split
        if not scan.foldable or not alternatives:
            return self.regex.finditer(scan.text, pos)
        if not open_ and gate.isdisjoint(scan.words):
            return ()
        kept, cases = [], []
        for alternative in alternatives:
            if alternative.gate is None or not alternative.gate.isdisjoint(scan.words):
                if possible := [c for c in alternative.cases if c.possible(scan)]:
                    kept.append(alternative.pattern)
                    cases.append(possible)
        if not kept:
            return ()
        starts = _start_positions(cases, scan, pos, len(scan.text) + 1 if stop is None else stop)
        if starts is None:
            regex = self.regex if len(kept) == len(alternatives) else _alternation(tuple(kept), self.regex.flags)
            return regex.finditer(scan.text, pos)
        return _match_at(tuple(kept), self.regex.flags, scan.text, starts, pos)


class _Scan:
    """One text as matchers see it; its words, lowercase form and line starts are made on first use."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.foldable = text.isascii() or not any(c in text for c in _UNFOLDABLE)

    @cached_property
    def words(self) -> frozenset[bytes]:
        return frozenset(self.text.encode("utf-8", "surrogatepass").translate(_WORD_BYTES).split())

    @cached_property
    def joined(self) -> bytes:
        return b" " + b" ".join(self.words) + b" "

    @cached_property
    def lower(self) -> str:
        return self.text.lower()  # same offsets as text when foldable

    @cached_property
    def line_starts(self) -> tuple[int, ...]:
        return (0, *(m.end() for m in re.finditer("\n", self.text)))

    @cached_property
    def lines_by_head(self) -> dict[str, list[int]]:
        """Line starts by the line's first character (lowercase)."""
        lines: dict[str, list[int]] = {}
        for i in self.line_starts:
            lines.setdefault(self.lower[i:i + 1], []).append(i)
        return lines


@lru_cache(maxsize=1024)
def _alternation(patterns: tuple[str, ...], flags: int) -> re.Pattern[str]:
    """A regex of some alternatives of a rule (memoized: texts reuse a few combinations)."""
    return re.compile("|".join(patterns), flags)


def _start_positions(cases: list[list[_Case]], scan: _Scan, pos: int, stop: int) -> dict[int, int] | None:
    """Positions in [pos, stop) where a match may start, each with the set (bit k: cases[k]) of
    alternatives that may match there; None when unknown or too many to be worth it (each costs a
    re.match call; one finditer pass costs about as much as len(text) / 64 of them)."""
    if any(c.starts is None for alternative in cases for c in alternative):
        return None
    budget = len(scan.text) // 64
    lines = scan.line_starts[bisect_left(scan.line_starts, pos):bisect_left(scan.line_starts, stop)]
    lower, found = scan.lower, {}
    for k, alternative in enumerate(cases):
        bit, heads, literals = 1 << k, set(), set()
        for case in alternative:
            heads = None if heads is None or case.line_starts is None else heads | set(case.line_starts)
            literals.update(s for s, need in case.starts or () if need is None or need.met(scan))
        if heads is None:
            for i in lines:
                found[i] = found.get(i, 0) | bit
        elif heads:
            prefixes = tuple(heads)
            for i in itertools.chain.from_iterable(scan.lines_by_head.get(c, ()) for c in {h[0] for h in heads}):
                if pos <= i < stop and lower.startswith(prefixes, i):
                    found[i] = found.get(i, 0) | bit
        for literal in literals:
            end = stop + len(literal) - 1
            i = lower.find(literal, pos, end)
            while i != -1:
                found[i] = found.get(i, 0) | bit
                i = lower.find(literal, i + 1, end)
        if len(found) > budget:
            return None
    return found


def _match_at(patterns: tuple[str, ...], flags: int, text: str, starts: dict[int, int],
              pos: int) -> list[re.Match[str]]:
    """re.compile("|".join(patterns), flags).finditer(text, pos) when every match starts at one of
    `starts`: tried there with the patterns that may match there (the others could not)."""
    found: list[re.Match[str]] = []
    end = pos
    regexes = {mask: _alternation(tuple(p for k, p in enumerate(patterns) if mask >> k & 1), flags)
               for mask in set(starts.values())}
    for start in sorted(starts):
        if start >= end and (m := regexes[starts[start]].match(text, start)):
            if m.end() == start:  # an empty match: finditer's rules for those are subtle, let it decide
                return list(_alternation(patterns, flags).finditer(text, pos))
            found.append(m)
            end = m.end()
    return found


def _matcher(r: _Reader, alternatives: list[str], where: str, flags: int) -> _Matcher:
    return _Matcher(_regex(r, "|".join(alternatives), where, flags), tuple(alternatives), flags)


def prepare(rules: Rules) -> Rules:
    """Work out now what each of the rules' regexes needs (_Matcher._split), which classify otherwise does on
    first use. The workers' forkserver does it for the default rules (ingest.preload): the workers it forks
    then find each alternative's analysis in _analyse's cache."""
    for matcher in [rule.matcher for rule in rules.rules] + [rules.section_matcher]:
        if matcher is not None:
            matcher._split  # noqa: B018 - a cached property, computed here
    return rules


@lru_cache(maxsize=512)
def _analyse(pattern: str, flags: int) -> _Alternative:
    """What an alternative needs and where it starts (memoized: ~60 ms for the default file's, and
    tests and commands load the same rules again)."""
    return _Alternative.of(pattern, tuple(map(_case, _top_branches(list(sre_parse.parse(pattern, flags))))))


def _top_branches(items: list[tuple[Any, Any]]) -> list[list[tuple[Any, Any]]]:
    """The branches of a pattern that is one alternation (between zero-width assertions), else itself."""
    zero_width = (sre.AT, sre.ASSERT, sre.ASSERT_NOT)
    lead = list(itertools.takewhile(lambda item: item[0] in zero_width, items))
    trail = list(itertools.takewhile(lambda item: item[0] in zero_width, reversed(items[len(lead):])))[::-1]
    middle = items[len(lead):len(items) - len(trail)]
    if len(middle) == 1 and middle[0][0] in (sre.SUBPATTERN, sre.BRANCH):
        op, av = middle[0]
        branches = [list(av[3])] if op is sre.SUBPATTERN else [list(p) for p in av[1]]
        split = [lead + part + trail for branch in branches for part in _top_branches(branch)]
        if len(split) <= _MAX_CASES:
            return split
    return [items]


def _case(items: list[tuple[Any, Any]]) -> _Case:
    lits = _sequence(items)
    needs = _select((*lits.needs, lits.first, lits.last, *((lits.exact,) if lits.exact else ())))
    return _Case.of(_needs(needs), *_starts(lits.first))


def _select(sets: Iterable[frozenset[str]]) -> tuple[frozenset[str], ...]:
    """The _MAX_NEEDS most selective sets that the others do not already imply."""
    chosen: list[frozenset[str]] = []
    for s in sorted(set(sets), key=_score, reverse=True):
        if _score(s)[0] >= 2 and not any(_implies(c, s) for c in chosen):
            chosen.append(s)
    return tuple(chosen[:_MAX_NEEDS])


def _score(strings: frozenset[str]) -> tuple[int, int, int]:
    """How selective a set of strings is: the length of the longest word in its weakest string (below
    2: useless), then how many of them are whole words (cheaper to check), then fewer strings."""
    info = [_words(s) for s in strings]
    return min(longest for longest, _, _ in info), sum(whole for _, whole, _ in info) - len(strings), -len(strings)


def _implies(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether a text meeting `a` meets `b` (judged on words: enough to skip redundant sets)."""
    return all(any(all(any(wb in wa for wa in _words(x)[2]) for wb in _words(y)[2]) for y in b) for x in a)


@lru_cache(maxsize=4096)
def _words(s: str) -> tuple[int, bool, tuple[str, ...]]:
    """(length of the longest word, whether every word is a whole word, the words) of a literal string."""
    runs = [_probe(m, s) for m in _WORD_RUN.finditer(s)]
    return max((length for _, length, _, _, _ in runs), default=0), all(r[0] for r in runs), tuple(r[2] for r in runs)


def _needs(sets: tuple[frozenset[str], ...]) -> tuple[_Need, ...]:
    """Needs checked cheapest first (whole words), each set split into the words all its strings
    share ("today" in "today announced", "today reported", ...) and one of the rest."""
    needs = dict.fromkeys(n for s in sets for n in _split(s))
    return tuple(sorted(needs, key=_Need.cost))


def _split(strings: frozenset[str]) -> Iterator[_Need]:
    probes = [_probes(s) for s in strings]
    shared = frozenset.intersection(*probes)
    for probe in sorted(shared):
        yield _need([frozenset({probe})])
    rest = [p - shared for p in probes]
    if all(rest):
        yield _need(rest)


def _probes(s: str) -> frozenset[tuple[bool, bytes]]:
    """The two most telling words of a literal string: (True, b"word") a whole word, or (False, b" pre"),
    (False, b"fix "), (False, b"part") a word start, end or part (see _Need)."""
    runs = sorted((_probe(m, s) for m in _WORD_RUN.finditer(s)),
                  key=lambda run: (run[1] > 3, run[0], run[1]), reverse=True)  # long words, whole, longer
    return frozenset((True, w.encode()) if whole else (False, f"{' ' * left}{w}{' ' * right}".encode())
                     for whole, _, w, left, right in runs[:2])


def _probe(m: re.Match[str], s: str) -> tuple[bool, int, str, bool, bool]:
    """(whole, length, word, left, right): a word of a literal string and whether a boundary is
    known before (left) and after (right) it."""
    left = m.start() > 0 and s[m.start() - 1] != _ANY
    right = m.end() < len(s) and s[m.end()] != _ANY
    return left and right, len(m.group()), m.group(), left, right


def _need(strings: list[frozenset[tuple[bool, bytes]]]) -> _Need:
    """A need from strings given as their probes (a string that has all the probes of another adds nothing)."""
    words, parts, phrases = set(), set(), set()
    for probes in {p for p in strings if not any(q < p for q in strings)}:
        if len(probes) > 1:
            phrases.add((frozenset(p for whole, p in probes if whole),
                         tuple(sorted(p for whole, p in probes if not whole))))
        else:
            ((whole, p),) = probes
            (words if whole else parts).add(p)
    return _Need(frozenset(words), tuple(sorted(parts)), tuple(sorted(phrases, key=repr)))


def _starts(first: frozenset[str]) -> tuple[tuple[tuple[str, _Need | None], ...] | None, tuple[str, ...] | None]:
    """The literals matches start with (each with what the text needs for a match to start with it),
    and the literals that follow a line start where matches start at one (see _Case)."""
    anywhere: dict[str, list[str]] = {}
    at_line = set()
    for s in first:
        head = s.lstrip(_BOUND + _LINE)  # zero-width
        literal = re.split(f"[{_MARKERS}]", head)[0]  # up to the next assertion or separator
        if (m := _WORD_RUN.search(literal)) and m.start() and len(max(_WORD_RUN.findall(literal), key=len)) < 3:
            literal = literal[:m.start()]  # "$" for "$a", "$b", ...: one search instead of many
        if _LINE in s[:len(s) - len(head)]:
            at_line.add(literal)
        elif literal:
            anywhere.setdefault(literal, []).append(s)
        else:
            return None, None
    starts = _few(set(anywhere))
    if starts is None:
        return None, None
    needs = {start: _start_need([s for literal, ss in anywhere.items() if literal.startswith(start) for s in ss])
             for start in starts}
    return tuple(needs.items()), (None if "" in at_line else _few(at_line))


def _start_need(strings: list[str]) -> _Need | None:
    """What the text needs for a match to start with one of these strings (None: not worth checking)."""
    probes = [_probes(s) for s in strings]
    return _need(probes) if all(any(len(w.strip()) > 2 for _, w in p) for p in probes) else None


def _few(literals: set[str]) -> tuple[str, ...] | None:
    """Few literals to look for: these (without those that another one starts), or if there are more
    than _MAX_STARTS, their shortest distinct prefixes (at most a quarter of that); None if impossible."""
    literals = {s for s in literals if not any(s != t and s.startswith(t) for t in literals)}
    if len(literals) <= _MAX_STARTS:
        return tuple(sorted(literals))
    for length in range(max(map(len, literals)), 0, -1):
        if len(shorter := {s[:length] for s in literals}) <= _MAX_STARTS // 4:
            return tuple(sorted(shorter))
    return None


class _Opaque(Exception):
    """A construct the analysis does not follow (backreferences, conditionals)."""


@dataclass(frozen=True)
class _Lits:
    """What the strings a regex node matches are made of, as lowercase ASCII literals with markers:
    _BOUND a word boundary, _LINE a line start, _SEP non-word characters, _ANY anything. "" in
    `first` or `last` means the node may match the empty string."""

    exact: frozenset[str] | None                 # all the strings it can match, if few and literal
    first: frozenset[str]                        # every match starts with one of these
    last: frozenset[str]                         # every match ends with one of these
    needs: tuple[frozenset[str], ...] = ()       # every match contains one string of each set


def _exact(strings: Iterable[str]) -> _Lits:
    s = frozenset(strings)
    return _Lits(s, s, s)


_SOMETHING = frozenset({_ANY})
_EMPTY = _exact({""})                                   # the empty string
_UNKNOWN = _Lits(None, _SOMETHING, _SOMETHING)          # one or more unknown characters
_AT = {sre.AT_BEGINNING: _exact({_LINE}), sre.AT_BEGINNING_STRING: _exact({_LINE}),
       sre.AT_BOUNDARY: _exact({_BOUND}), sre.AT_END: _exact({_BOUND}), sre.AT_END_STRING: _exact({_BOUND})}


def _sequence(items: Iterable[tuple[Any, Any]]) -> _Lits:
    lits = _EMPTY
    for op, av in items:
        lits = _concat(lits, _node(op, av))
    return lits


def _node(op: Any, av: Any) -> _Lits:
    if op is sre.LITERAL:
        return _exact({chr(av).lower()}) if av < 128 else _UNKNOWN
    if op is sre.IN:
        return _char_class(av)
    if op is sre.AT:
        return _AT.get(av, _EMPTY)
    if op is sre.ASSERT_NOT:  # (?<!\w) and (?!\w) are word boundaries; other lookarounds tell nothing
        return _exact({_BOUND}) if _is_word_class(av[1]) else _EMPTY
    if op is sre.ASSERT:
        return _EMPTY
    if op is sre.SUBPATTERN:
        return _sequence(av[3])
    if op is sre.ATOMIC_GROUP:
        return _sequence(av)
    if op is sre.BRANCH:
        return _branch([_sequence(p) for p in av[1]])
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        return _repeat(av[0], av[1], _sequence(av[2]))
    if op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
        raise _Opaque(op)
    return _UNKNOWN  # ANY, NOT_LITERAL, ...


def _char_class(items: list[tuple[Any, Any]]) -> _Lits:
    chars: set[int] = set()
    categories: set[Any] = set()
    for op, av in items:
        if op is sre.LITERAL:
            chars.add(av)
        elif op is sre.RANGE and av[1] - av[0] < _MAX_STRINGS:
            chars.update(range(av[0], av[1] + 1))
        elif op is sre.CATEGORY:
            categories.add(av)
        else:  # NEGATE, wide ranges
            return _UNKNOWN
    if categories:
        non_word = categories <= {sre.CATEGORY_SPACE, sre.CATEGORY_NOT_WORD} and all(map(_non_word_ascii, chars))
        return _exact({_SEP}) if non_word else _UNKNOWN
    if len(chars) > _MAX_STRINGS or any(c >= 128 for c in chars):
        return _UNKNOWN
    return _exact({chr(c).lower() for c in chars})


def _non_word_ascii(c: int) -> bool:
    return c < 128 and not (chr(c).isalnum() or chr(c) == "_")


def _is_word_class(items: Any) -> bool:
    return len(items) == 1 and items[0][0] is sre.IN and (sre.CATEGORY, sre.CATEGORY_WORD) in items[0][1] \
        and not any(op is sre.NEGATE for op, _ in items[0][1])


def _product(a: frozenset[str], b: frozenset[str]) -> frozenset[str] | None:
    return frozenset(x + y for x in a for y in b) if len(a) * len(b) <= _MAX_STRINGS else None


def _union(sets: Iterable[frozenset[str]]) -> frozenset[str] | None:
    union = frozenset().union(*sets)
    return union if len(union) <= _MAX_STRINGS else None


def _ends(strings: frozenset[str], shorten: Callable[[frozenset[str]], frozenset[str]]) -> frozenset[str]:
    """A set of prefixes (shorten=_heads) or suffixes (_tails), shortened when too large, or replaced
    by "anything" (and maybe nothing)."""
    if len(strings) > _MAX_STRINGS:
        strings = shorten(strings)
    return strings if len(strings) <= _MAX_STRINGS else _SOMETHING | (strings & {""})


def _concat(a: _Lits, b: _Lits) -> _Lits:
    if a.exact is not None and b.exact is not None and (exact := _product(a.exact, b.exact)) is not None:
        return _Lits(exact, exact, exact, a.needs + b.needs)
    joint = _product(a.last, b.first) or _product(_tails(a.last), b.first) or _product(_tails(a.last), _heads(b.first))
    needs = a.needs + b.needs + ((joint,) if joint is not None else (a.last, b.first))
    first = (a.exact is not None and (_product(a.exact, b.first) or _product(a.exact, _heads(b.first)))) or \
        _then(a.first, b.first, lambda zero, after: _product(zero, after))
    last = (b.exact is not None and (_product(a.last, b.exact) or _product(_tails(a.last), b.exact))) or \
        _then(b.last, a.last, lambda zero, before: _product(before, zero))
    return _Lits(None, _ends(first, _heads), _ends(last, _tails), needs)


def _then(ends: frozenset[str], beyond: frozenset[str],
          join: Callable[[frozenset[str], frozenset[str]], frozenset[str] | None]) -> frozenset[str]:
    """The prefixes (or suffixes) of a node followed (preceded) by another: its own, where they
    consume something; else, where it may match nothing or only assertions, the other's, joined."""
    zero = frozenset(s for s in ends if not s.strip(_BOUND + _LINE))
    return (ends - zero) | (join(zero, beyond) or beyond) if zero else ends


def _tails(suffixes: frozenset[str]) -> frozenset[str]:
    """Shorter suffixes: from the last non-word character on (so that fewer combinations remain)."""
    return frozenset(m.group() if (m := _TAIL.search(s)) else s for s in suffixes)


def _heads(prefixes: frozenset[str]) -> frozenset[str]:
    """Shorter prefixes: up to the first non-word character."""
    return frozenset(m.group() if (m := _HEAD.match(s)) else s for s in prefixes)


def _branch(parts: list[_Lits]) -> _Lits:
    if all(p.exact is not None for p in parts) and (exact := _union(p.exact for p in parts)) is not None:
        return _exact(exact)
    own = [(*p.needs, p.first, p.last, *((p.exact,) if p.exact else ())) for p in parts]
    best = [max((s for s in sets if _score(s)[0]), key=_score, default=None) for sets in own]
    needs = (frozenset().union(*best),) if all(b is not None for b in best) else ()
    return _Lits(None, _ends(frozenset().union(*(p.first for p in parts)), _heads),
                 _ends(frozenset().union(*(p.last for p in parts)), _tails), needs)


def _repeat(low: int, high: int, item: _Lits) -> _Lits:
    if item.exact is not None and all(s.strip(_BOUND + _LINE) and not _WORD_RUN.search(s) for s in item.exact):
        return _exact({_SEP} if low else {"", _SEP})  # non-word characters
    if high == 1:
        return item if low else _optional(item)
    repeated = _Lits(None, item.first, item.last, item.needs + ((item.exact,) if item.exact else ()))
    return repeated if low else _optional(repeated)


def _optional(item: _Lits) -> _Lits:
    if item.exact is not None:
        return _exact(item.exact | {""})
    return _Lits(None, item.first | {""}, item.last | {""})



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
    scans = {"title": _Scan(title), "summary": _Scan(summary), "text": _Scan(text)}
    layout = _layout(scans["text"], rules)
    tickers = _find_tickers({"title": title, "summary": summary, "text": text}, rules)
    source = (source_name, source_url)
    hits = [h for rule in rules.rules for h in _hits(rule, scans, source, layout, tickers, rules)]
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
    return _without(text, result.summary_boilerplate if field == "summary" else result.boilerplate)


def without_boilerplate(text: str, rules: Rules) -> str:
    """`clean_text(text, classify(text, rules=rules))`, computing only what that reads: the text's layout
    and the hits of the rules that mark spans (on a page's meta description: ~80 -> ~25 us of CPU,
    process_time over 1,000 bench pages). No title, summary or source: their hits are never spans, nor
    are a tail section's (classify's spans of rules come from before the tail only)."""
    scans = {"title": _Scan(""), "summary": _Scan(""), "text": _Scan(text)}
    layout = _layout(scans["text"], rules)
    marking = [rule for rule in rules.rules if rule.mark != "none" and rule.kind in ("text", "ticker")]
    tickers = _find_tickers({"text": text}, rules) if any(rule.kind == "ticker" for rule in marking) else []
    hits = [h for rule in marking for h in _hits(rule, scans, ("", ""), layout, tickers, rules) if h.field == "text"]
    return _without(text, _boilerplate(text, layout, hits))


def _without(text: str, spans: tuple[Span, ...]) -> str:
    kept, pos = [], 0
    for span in spans:
        kept.append(text[pos:span.start])
        pos = max(pos, span.end)
    kept.append(text[pos:])
    clean = "".join(kept)
    if "\t" in clean or "  " in clean:  # else every run of blanks is one space already
        clean = _BLANKS.sub(" ", clean)  # (a run of [ \t] never spans lines)
    tidy = ("\n".join(_tidy_lines(p)) for p in _PARAGRAPH_BREAK.split(clean))
    return "\n\n".join(p for p in tidy if p)


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_BLANKS = re.compile(r"[ \t]+")


def _tidy_lines(paragraph: str) -> Iterator[str]:
    for line in paragraph.split("\n"):
        if line := line.strip():
            yield line


def _label(promo: float, pr: float, reasons: tuple[Reason, ...], rules: Rules) -> str:
    decisive = {rule.name for rule in rules.rules if rule.decisive}
    if any(x.rule in decisive for x in reasons) or promo >= rules.promotional_threshold:
        return "promotional"
    if pr >= rules.press_release_threshold:
        return "press_release"
    return "news"


# ---------------------------------------------------------------- layout


def _layout(scan: _Scan, rules: Rules) -> _Layout:
    text = scan.text
    lead_end = _lead_end(text)
    markers = list(_section_markers(scan, lead_end, rules))
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


def _section_markers(scan: _Scan, lead_end: int, rules: Rules) -> Iterator[tuple[int, str]]:
    """(start, kind) of each marker line; a marker of the same kind as the previous one
    continues that section ("Forward-Looking Statements" heading, then its paragraph)."""
    if rules.section_matcher is None:
        return
    previous = ""
    for m in rules.section_matcher.finditer(scan, lead_end):
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


def _hits(rule: Rule, scans: dict[str, _Scan], source: tuple[str, str],
          layout: _Layout, tickers: list[_Ticker], rules: Rules) -> Iterator[_Hit]:
    if rule.kind == "text":
        return _text_hits(rule, scans, layout)
    if rule.kind == "source":
        return _source_hits(rule, rules.source_list(rule.source_list), *source)
    if rule.kind == "ticker":
        return _ticker_hits(rule, tickers, layout)
    return _section_hits(rule, scans["text"].text, layout)


def _text_hits(rule: Rule, scans: dict[str, _Scan], layout: _Layout) -> Iterator[_Hit]:
    assert rule.matcher is not None
    for field in FIELD_ZONES:
        if field in rule.zones:
            for m in rule.matcher.finditer(scans[field]):
                if _counted(rule, scans[field].text, m.start(), m.end()):
                    yield _Hit(rule, m.group(), m.start(), m.end(), field)
    if rule.zones & set(TEXT_ZONES):
        stop = None if "tail" in rule.zones else layout.tail_start if "body" in rule.zones else layout.lead_end
        for m in rule.matcher.finditer(scans["text"], stop=stop):
            if _zone(m.start(), layout) in rule.zones and _counted(rule, scans["text"].text, m.start(), m.end()):
                yield _Hit(rule, m.group(), m.start(), m.end(), "text")


def _counted(rule: Rule, text: str, start: int, end: int) -> bool:
    """False when the rule's `unless` regex matches the sentence of the match at start..end."""
    if rule.unless is None:
        return True
    first, last = _sentence(text, start, end)
    return rule.unless.search(text[first:last]) is None


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


# where a sentence may end (or the next one start): ., ! or ? (and closing quotes or brackets), then white
# space and a capital, a quote or "("; not where sentences.continues_after says it goes on (initials,
# abbreviations, "Solaris Grid Corp. (OTCQB: SLGD) is a client of ...")
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
    return Span(*_sentence(text, hit.start, hit.end), hit.rule.name)


def _sentence(text: str, hit_start: int, hit_end: int) -> tuple[int, int]:
    """Start and end of the sentence around text[hit_start:hit_end] (within its line)."""
    line_start = text.rfind("\n", 0, hit_start) + 1
    line_end = text.find("\n", hit_end)
    line_end = len(text) if line_end == -1 else line_end
    start = line_start
    for m in _SENTENCE_START.finditer(text, line_start, hit_start):
        if not continues_after(text, m.start(), text[m.end()]):
            start = m.end()
    for m in _SENTENCE_END.finditer(text, hit_end, line_end):
        if not continues_after(text, m.start(), text[m.end():line_end].lstrip()[:1]):
            return start, m.end()
    return start, _rstrip_end(text, hit_end, line_end)
