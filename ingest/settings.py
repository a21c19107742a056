"""Settings: a TOML file plus PRESSWIRE_* environment variables -> one frozen Settings.

Every key is declared once, as a typed field of a section dataclass below; the loader checks the file
against those declarations, so a wrong key or type is an error naming the file, the key and the
expected type. `config/presswire.example.toml` documents every key.

Environment variables override the file: PRESSWIRE_<SECTION>_<KEY>, e.g. PRESSWIRE_DATABASE_URL,
PRESSWIRE_HTTP_MAX_BYTES. PRESSWIRE_CONFIG names the config file when --config is not given. Other
PRESSWIRE_* names are left to whoever uses them (PRESSWIRE_WORKERS in deploy/, the test suite's), unless
they look like a misspelt setting (PRESSWIRE_DB_URL): that is an error naming the setting meant.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from ingest.errors import ConfigError
from ingest.model import ExtractRules
from ingest.selectors import SelectorError, compile_selector

Seconds = typing.NewType("Seconds", float)  # a duration: a number of seconds, or "90s", "15m", "2h", "7d"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/presswire.db"  # SQLAlchemy URL; the SQLite file's folder is created


LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")  # logging's names, and uvicorn's (`serve`)


@dataclass(frozen=True)
class LogSettings:
    format: str = "auto"  # auto (JSON unless stderr is a terminal), json, console
    level: str = "info"

    def __post_init__(self) -> None:
        """Checked here: any other format was read as "console", any other level as "info", and
        `serve` passes the level to uvicorn, which stops with a KeyError on one it does not know ("warn")."""
        if self.format not in LOG_FORMATS:
            raise ValueError(f"format: expected one of {', '.join(LOG_FORMATS)}, got {self.format!r}")
        if self.level.lower() not in LOG_LEVELS:
            raise ValueError(f"level: expected one of {', '.join(LOG_LEVELS)}, got {self.level!r}")


@dataclass(frozen=True)
class HttpSettings:
    user_agent: str = "presswire/0.1"
    contact_url: str = "https://github.com/presswire/presswire"  # appended to the User-Agent
    connect_timeout: Seconds = Seconds(10.0)
    read_timeout: Seconds = Seconds(30.0)  # longest wait for the next bytes of a response
    total_timeout: Seconds = Seconds(120.0)  # longest a whole response may take (cuts slow drips)
    max_bytes: int = 10_000_000  # decoded body size past which a response is refused
    max_redirects: int = 5
    retries: int = 2  # extra attempts for transient failures (connect errors, timeouts, 408, 429, 5xx)
    retry_backoff: Seconds = Seconds(1.0)  # first wait between attempts; doubles, with jitter
    per_host: int = 2  # requests at once to one host (feeds and article pages) in the service
    host_delay: Seconds = Seconds(1.0)  # least time between the starts of two article fetches from one host
    robots_txt: bool = True  # obey robots.txt for article pages (feeds are subscribed to, so not checked)
    robots_cache: Seconds = Seconds(86400.0)  # how long a host's robots.txt is kept
    # Non-public networks presswire may connect to (SSRF guard, ingest/netguard.py), e.g. ["10.0.0.0/8"];
    # loopback, private, link-local, multicast, reserved and metadata addresses are refused otherwise.
    allow_networks: tuple[str, ...] = ()

    @property
    def full_user_agent(self) -> str:
        return f"{self.user_agent} (+{self.contact_url})" if self.contact_url else self.user_agent


@dataclass(frozen=True)
class PollSettings:
    interval: Seconds = Seconds(900.0)  # default time between two polls of a source
    concurrency: int = 8  # sources polled at once by one worker (threads; network waits overlap)
    adaptive: bool = False  # derive each source's interval from its publishing rate (within min/max_interval)
    min_interval: Seconds = Seconds(300.0)  # no source is polled more often than this (adaptive or overridden)
    max_interval: Seconds = Seconds(86400.0)  # ... nor less often (adaptive mode; a feed's TTL may ask for more)
    jitter: float = 0.15  # each interval is stretched or shrunk by up to this fraction, at random
    backoff: Seconds = Seconds(1800.0)  # a failing source waits this long after its first error, doubling ...
    max_backoff: Seconds = Seconds(604800.0)  # ... up to this
    full_fetch_every: Seconds = Seconds(86400.0)  # an unconditional GET at least this often (0 = never)
    redirect_repeats: int = 3  # polls in a row that see the same permanent redirect before the URL is updated
    fetch_articles: bool = True  # fetch each new entry's page and extract its body
    article_workers: int = 4  # article pages fetched at once within one source
    max_article_attempts: int = 3  # tries of a failing article page (one per poll) before giving up
    dispatch_every: Seconds = Seconds(30.0)  # how often `presswire run` looks for due sources
    lease: Seconds = Seconds(600.0)  # how long a claimed source is reserved for its worker (renewed while it polls)
    shutdown_grace: Seconds = Seconds(20.0)  # on SIGTERM, how long in-flight polls may take to finish

    def __post_init__(self) -> None:
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter: expected a fraction from 0 to below 1, got {self.jitter}")
        if self.min_interval > self.max_interval:
            raise ValueError(f"min_interval ({self.min_interval:g}s) is longer than max_interval "
                             f"({self.max_interval:g}s)")
        if self.concurrency < 1 or self.article_workers < 1:
            raise ValueError("concurrency and article_workers: expected at least 1")


@dataclass(frozen=True)
class ServiceSettings:
    metrics_host: str = "127.0.0.1"  # `presswire run` serves /metrics (Prometheus) and /healthz here ...
    metrics_port: int = 9180  # ... on this port; 0 = any free port (logged), -1 = no metrics server

    def __post_init__(self) -> None:
        if not -1 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port: expected a port from 0 to 65535, or -1 (no metrics server), "
                             f"got {self.metrics_port}")


@dataclass(frozen=True)
class ExtractSettings:
    processes: int = -1  # extraction worker processes; -1 = one per CPU core, 0 = in the polling thread
    recycle_after: int = 2000  # worker processes are replaced after this many pages each, on average (memory flat)
    min_chars: int = 250  # a container or fast-mode body shorter than this goes on to the next step of the chain
    follow_read_more: bool = True  # follow a teaser page's "Read More" link once, to the full article
    teaser_chars: int = 2500  # a page whose body is shorter than this may be a teaser


@dataclass(frozen=True)
class BackfillSettings:
    concurrency: int = 8  # pages fetched at once (--concurrency)
    per_host: int = 2  # requests at once to one host
    host_delay: Seconds = Seconds(0.25)  # least time between the starts of two requests to one host
    batch_size: int = 100  # items saved per transaction
    max_pages: int = 100  # older pages followed per feed (--max-pages)
    progress_every: Seconds = Seconds(10.0)  # a progress log line this often when stderr is not a terminal


@dataclass(frozen=True)
class OutputSettings:
    qrcode_prefix: str = "qrcodes/"  # `qrcode` front-matter value = prefix + url slug + ".png"
    qrcode_dir: str = "var/qrcodes"  # where QR code PNGs are written as items are stored ("" = don't)


PROMO_POLICIES = ("keep", "draft", "exclude_from_exports")


@dataclass(frozen=True)
class PromoSettings:
    rules: str = ""  # promo rules file; "" = the default config/promo_rules.toml
    policy: str = "keep"  # what happens to items labeled promotional: keep, draft, exclude_from_exports

    def __post_init__(self) -> None:
        if self.policy not in PROMO_POLICIES:
            raise ValueError(f"policy: expected one of {', '.join(PROMO_POLICIES)}, got {self.policy!r}")

    @property
    def export_excluded_labels(self) -> tuple[str, ...]:
        """Labels that exports leave out (pass to store.repository.list_items(exclude_labels=...))."""
        return ("promotional",) if self.policy == "exclude_from_exports" else ()


WIRE_DOMAINS = ("prnewswire.com", "globenewswire.com", "businesswire.com", "accessnewswire.com", "accesswire.com",
                "newsfilecorp.com", "newswire.ca", "einpresswire.com", "prweb.com", "investorbrandnetwork.com")


@dataclass(frozen=True)
class DedupSettings:
    """Near-duplicate thresholds; defaults measured by bench/dedup_eval.py (see the README)."""

    enabled: bool = True  # link copies of the same release into clusters
    lead_threshold: float = 0.8  # share of one copy's lead paragraph found in the other
    jaccard_threshold: float = 0.5  # shingle Jaccard at or above which leads-agreeing texts are copies
    containment_threshold: float = 0.7  # ... or shingle containment (overlap / smaller text)
    min_shingles: int = 40  # shorter texts are matched by title + date only
    title_window_days: int = 2  # how far apart the dates of two short copies with the same title may be
    near_window_days: int = 3  # how far apart the dates of two near copies (not equal by content hash) may be
    max_candidates: int = 50  # stored items verified per new item, nearest in date first
    wire_domains: tuple[str, ...] = WIRE_DOMAINS  # a copy from these is preferred as the canonical one


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"  # `presswire serve` listens here (read-only pages, JSON API, Atom feed)
    port: int = 8080
    base_url: str = ""  # public URL of `serve` (e.g. https://news.example.com), for links in the Atom feed
    feed_title: str = "presswire"  # the Atom feed's title
    page_size: int = 50  # items per page (HTML, API default) and in the Atom feed

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port: expected a port from 0 to 65535, got {self.port}")


@dataclass(frozen=True)
class SourceConfig:
    url: str
    name: str = ""
    interval: Seconds | None = None  # this source's own poll interval (overrides [poll] interval and adaptive)
    extract: ExtractRules = field(default_factory=ExtractRules)  # [sources.extract]: body/drop selectors


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    log: LogSettings = field(default_factory=LogSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    poll: PollSettings = field(default_factory=PollSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    extract: ExtractSettings = field(default_factory=ExtractSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    promo: PromoSettings = field(default_factory=PromoSettings)
    web: WebSettings = field(default_factory=WebSettings)
    backfill: BackfillSettings = field(default_factory=BackfillSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    sources: tuple[SourceConfig, ...] = ()
    config_path: Path | None = None

    def rules_for(self, source_url: str) -> ExtractRules:
        """The extraction rules configured for a source (by its feed URL); none when not configured."""
        return next((s.extract for s in self.sources if s.url == source_url), ExtractRules())


# The [section] tables of the config file, by name (the environment prefix is PRESSWIRE_<NAME>_).
SECTIONS: dict[str, type] = {
    "database": DatabaseSettings,
    "log": LogSettings,
    "http": HttpSettings,
    "poll": PollSettings,
    "service": ServiceSettings,
    "extract": ExtractSettings,
    "output": OutputSettings,
    "promo": PromoSettings,
    "web": WebSettings,
    "backfill": BackfillSettings,
    "dedup": DedupSettings,
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
MAX_DURATION = 100 * 365 * 86400.0  # longer durations overflow dates (now + interval), socket and thread timeouts
_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def load_settings(path: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the config file (if any) and the environment into one Settings."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("PRESSWIRE_CONFIG") or None
    data = _read_toml(Path(path)) if path else {}
    where = str(path) if path else "defaults"
    settings = _build(data, where)
    settings = _apply_environment(settings, environ)
    return replace(settings, config_path=Path(path) if path else None)


def _read_toml(path: Path) -> dict[str, Any]:
    """The config file's tables. TOML is UTF-8: tomllib decodes the bytes itself and lets a
    UnicodeDecodeError through (a file saved as Latin-1), so that is reported here, with its line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:  # no permission, a path through a file, a directory
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(data.decode("utf-8-sig"))  # a byte-order mark first (Windows editors) is no TOML error
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}: not valid TOML: line {line} is not UTF-8 text "
                          f"(byte 0x{data[exc.start]:02x}); save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _build(data: dict[str, Any], where: str) -> Settings:
    known = set(SECTIONS) | {"sources"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}: unknown section or key '{key}' (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: '{name}' must be a table ([{name}]), got {_tname(table)}")
        values[name] = _section(cls, table, f"{where}: [{name}]")
    values["sources"] = _sources(data.get("sources", []), where)
    return Settings(**values)


def _sources(raw: Any, where: str) -> tuple[SourceConfig, ...]:
    """The [[sources]] tables. Each url is a feed to poll, as for `sources add`: an http(s) URL, once.
    (Unchecked, "not a url" was stored and failed every poll; a URL listed twice became one source, the
    second table silently replacing the first one's name and interval.)"""
    from ingest.urls import is_http_url  # here, not at the top: ingest.urls imports tld (~50 ms) for every command
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: 'sources' must be an array of tables ([[sources]]), got {_tname(raw)}")
    out: list[SourceConfig] = []
    for i, table in enumerate(raw):
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: sources[{i}] must be a table, got {_tname(table)}")
        if "url" not in table:
            raise ConfigError(f"{where}: sources[{i}] has no 'url'")
        source = _section(SourceConfig, table, f"{where}: sources[{i}]")
        if not is_http_url(source.url):
            raise ConfigError(f"{where}: sources[{i}] url: expected an http(s) URL, got {source.url!r}")
        if (first := next((j for j, s in enumerate(out) if s.url == source.url), None)) is not None:
            raise ConfigError(f"{where}: sources[{i}] url: {source.url!r} is already sources[{first}]")
        _check_selectors(source.extract, f"{where}: sources[{i}].extract")
        out.append(source)
    return tuple(out)


def _check_selectors(rules: ExtractRules, where: str) -> None:
    for selector in filter(None, (rules.body_selector, *rules.drop_selectors)):
        try:
            compile_selector(selector)
        except SelectorError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def _section(cls: type, table: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    for key in table:
        if key not in names:
            raise ConfigError(f"{where}: unknown key '{key}' (known: {', '.join(names)})")
    values = {k: _coerce(v, hints[k], f"{where} {k}") for k, v in table.items()}
    try:
        return cls(**values)
    except ValueError as exc:  # a section's own check of its values (__post_init__)
        raise ConfigError(f"{where} {exc}") from None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check a TOML value against the declared type; durations also accept "15m"-style strings."""
    if hint is Seconds:
        return _seconds(value, where)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(value, list):
            return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    elif _optional_of(hint) is not None:
        return _coerce(value, _optional_of(hint), where)
    elif dataclasses.is_dataclass(hint):
        if isinstance(value, dict):
            return _section(hint, value, where)
    raise ConfigError(f"{where}: expected {_describe(hint)}, got {_tname(value)} {value!r}")


def duration(text: str, where: str) -> float:
    """Seconds from a duration written as in the config ("90s", "15m", "2h", "7d", or plain seconds);
    a ConfigError naming `where` otherwise."""
    try:
        return _seconds(float(text), where)
    except ValueError:
        return _seconds(text, where)


def _seconds(value: Any, where: str) -> float:
    seconds = None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds is None or not seconds <= MAX_DURATION:  # nor inf, nan or 1e400 (read as inf)
        raise ConfigError(f"{where}: expected a duration (seconds, or like \"90s\", \"15m\", \"2h\", \"7d\"; "
                          f"at most 100 years), got {_tname(value)} {value!r}")
    return seconds


def _optional_of(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else None
    return None


def _describe(hint: Any) -> str:
    names = {bool: "a boolean (true/false)", int: "an integer", float: "a finite number", str: "a string"}
    if dataclasses.is_dataclass(hint):
        return "a table"
    if typing.get_origin(hint) is tuple:
        return f"an array of {_describe(typing.get_args(hint)[0]).removeprefix('a ').removeprefix('an ')}s"
    return names.get(hint, str(hint))


def _tname(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__)


def _apply_environment(settings: Settings, environ: Mapping[str, str]) -> Settings:
    """PRESSWIRE_<SECTION>_<KEY> overrides [section] key; a misspelt key of a known section is an error.
    A section's variables are applied together, as the keys of a file's table are: one at a time, lowering
    both PRESSWIRE_POLL_MIN_INTERVAL and _MAX_INTERVAL was refused half-way (min above the new max)."""
    overrides: dict[str, dict[str, Any]] = {}  # section -> {key: value}
    variables: dict[str, list[str]] = {}  # section -> the variables that set it, for its error
    for var, raw in sorted(environ.items()):
        if not var.startswith("PRESSWIRE_") or var == "PRESSWIRE_CONFIG":
            continue
        section, _, key = var.removeprefix("PRESSWIRE_").lower().partition("_")
        if section not in SECTIONS:
            _refuse_a_setting_misspelt(var)
            continue
        cls = SECTIONS[section]
        hints = typing.get_type_hints(cls)
        if key not in hints:
            raise ConfigError(f"environment {var}: [{section}] has no key '{key}' "
                              f"(known: {', '.join(f.name for f in fields(cls))})")
        overrides.setdefault(section, {})[key] = _coerce(_parse_env(raw, hints[key]), hints[key],
                                                         f"environment {var}")
        variables.setdefault(section, []).append(var)
    for section, values in overrides.items():
        try:
            settings = replace(settings, **{section: replace(getattr(settings, section), **values)})
        except ValueError as exc:
            raise ConfigError(f"environment {', '.join(variables[section])}: {exc}") from None
    return settings


def _refuse_a_setting_misspelt(var: str) -> None:
    """A PRESSWIRE_* name of no section is someone else's (deploy's PRESSWIRE_WORKERS), unless it is close to a
    setting's: PRESSWIRE_DB_URL was ignored in silence and the service ran on the default SQLite file."""
    settings = [f"PRESSWIRE_{name.upper()}_{f.name.upper()}" for name, cls in SECTIONS.items() for f in fields(cls)]
    meant = difflib.get_close_matches(var.upper(), settings, n=1, cutoff=0.8)
    if meant:
        raise ConfigError(f"environment {var}: no such setting; did you mean {meant[0]}?")


def _parse_env(raw: str, hint: Any) -> Any:
    """Environment values are strings; read them as the declared type would be written in TOML."""
    if hint is bool:
        low = raw.strip().lower()
        return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(low, raw)
    if hint in (int, float) or hint is Seconds:
        try:
            return int(raw) if hint is int else float(raw)
        except ValueError:
            return raw
    if typing.get_origin(hint) is tuple:
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw
