"""The `presswire` command: thin commands over the pipeline and the store.

The app state (settings, engine, fetcher) is built once here, at the edge, and passed down.
User-facing failures are PresswireError subclasses; each has an exit code.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import asdict, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import click
import structlog

from ingest import __version__
from ingest.errors import PresswireError, SourceError
from ingest.logs import configure_logging
from ingest.promo import LABELS
from ingest.settings import Settings, duration, load_settings

if TYPE_CHECKING:
    from ingest.atom import FeedInfo
    from ingest.fetch import Fetcher
    from ingest.metrics import Metrics
    from ingest.model import ItemQuery, StoredSource
    from ingest.pipeline import Context
    from ingest.polite import PoliteFetcher
    from ingest.promo import Rules
    from ingest.workers import Extractor

# Each command imports what it uses, when it runs: the whole pipeline, the store, the exporters, the
# scheduler and the web app are ~0.9 s of imports, which `presswire --help` or `items list` need not pay
# (and `backfill` needs only part of).

class App:
    """Settings plus the lazily built engine, sessions and fetcher; closed when the command ends."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def engine(self):
        from store import db
        return db.make_engine(self.settings.database.url, pool_size=db.pool_size_for(self.settings.poll.concurrency))

    @cached_property
    def sessions(self):
        from store import db
        db.ensure_schema(self.engine)
        return db.session_factory(self.engine)

    @cached_property
    def fetcher(self) -> Fetcher:
        from ingest.fetch import Fetcher
        return Fetcher(self.settings.http)

    @cached_property
    def extractor(self) -> Extractor:
        """The worker processes: extraction, and the rest of each item's CPU work (ingest.assemble)."""
        from ingest.assemble import Assembly
        from ingest.pipeline import deduplicator
        from ingest.workers import Extractor
        return Extractor(self.settings.extract, Assembly(rules=self.promo_rules, dedup=deduplicator(self.settings.dedup)))

    @cached_property
    def promo_rules(self) -> Rules:
        """[promo] rules: the promotional-content rules file, read and compiled once. A file of the user's own is
        analysed here too (ingest.promo.prepare), so that each worker gets the analysis with its copy of the
        rules, as it did before the analysis waited for first use; the default file's the workers' forkserver
        analyses (ingest.preload), and this process, which hands the pages to the workers, need not."""
        from ingest.promo import load_rules, prepare
        if not self.settings.promo.rules:
            return load_rules(None)
        return prepare(load_rules(Path(self.settings.promo.rules)))

    def polite(self, per_host: int, delay: float, fetcher=None, robots_fetcher=None) -> PoliteFetcher:
        """The fetcher behind per-host limits, delays and Retry-After, and robots.txt for article pages ([http]);
        a host's Retry-After is capped at [poll] max_backoff, as a source's is."""
        from ingest.polite import PoliteFetcher
        http = self.settings.http
        return PoliteFetcher(fetcher or self.fetcher, per_host, delay, robots=http.robots_txt,
                             robots_cache=http.robots_cache, user_agent=http.user_agent,
                             robots_fetcher=robots_fetcher, max_cool_down=self.settings.poll.max_backoff)

    def context(self, metrics: Metrics | None = None, *, dry_run: bool = False) -> Context:
        """What polls and backfills need; with `metrics`, every fetch and poll is counted there. A dry run
        writes nothing: the config's sources are not added, and a database that does not exist or has no
        schema is not created (sessions is None then: everything is new)."""
        from ingest.metrics import TimedFetcher
        from ingest.pipeline import Context
        if not dry_run:
            self.sync_config_sources()
        http = self.settings.http
        fetcher = TimedFetcher(self.fetcher, metrics) if metrics else self.fetcher
        robots = TimedFetcher(self.fetcher, metrics, kind="robots") if metrics else None
        return Context(settings=self.settings, fetcher=self.polite(http.per_host, http.host_delay, fetcher, robots),
                       sessions=self.existing_sessions() if dry_run else self.sessions, extract=self.extractor,
                       log=structlog.get_logger("presswire"),
                       worker=_worker_id(), promo_rules=self.promo_rules, on_poll=metrics.poll if metrics else None)

    def existing_sessions(self):
        """Sessions on the database if it exists with the schema, else None; creates nothing."""
        from store import db
        if not db.database_exists(self.settings.database.url) or not db.has_schema(self.engine):
            return None
        return db.session_factory(self.engine)

    def inspect_context(self) -> Context:
        """A context for `inspect`: extraction in this process, and no database (nothing is stored)."""
        from ingest.pipeline import Context
        from ingest.workers import Extractor
        return Context(settings=self.settings, fetcher=self.fetcher, sessions=None,
                       extract=Extractor(replace(self.settings.extract, processes=0)),
                       log=structlog.get_logger("presswire"), promo_rules=self.promo_rules)

    def sync_config_sources(self) -> None:
        """Sources declared in the config file are added (or renamed, or given their interval) in the store."""
        from ingest.pipeline import utcnow
        from store import repository
        with self.sessions.begin() as s:
            for src in self.settings.sources:
                source, _ = repository.add_source(s, src.url, src.name, utcnow())
                if source.poll_interval != src.interval:
                    repository.set_interval(s, source.id, src.interval)

    def close(self) -> None:
        if "fetcher" in self.__dict__:
            self.fetcher.close()
        if "extractor" in self.__dict__:
            self.extractor.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


class PresswireGroup(click.Group):
    """Turns PresswireError into a one-line message on stderr and the error's exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PresswireError as exc:
            click.echo(f"presswire: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=PresswireGroup)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="PRESSWIRE_CONFIG",
              help="TOML config file (default: $PRESSWIRE_CONFIG; else built-in defaults).")
@click.version_option(__version__, prog_name="presswire")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """presswire: poll press-release feeds, extract and normalize articles, store them deduplicated."""
    settings = load_settings(config_path)
    configure_logging(settings.log)
    app = App(settings)
    ctx.obj = app
    ctx.call_on_close(app.close)


# --- sources --------------------------------------------------------------------------------------

@cli.group()
def sources() -> None:
    """Manage the feeds presswire polls."""


@sources.command("add")
@click.argument("url")
@click.option("--name", default="", help="Display name (the `source` front-matter field).")
@click.option("--interval", metavar="DURATION",
              help='Its own poll interval, e.g. "5m", "2h" (overrides [poll] interval and adaptive mode).')
@click.pass_obj
def sources_add(app: App, url: str, name: str, interval: str | None) -> None:
    """Add a feed URL to poll. The URL is read once first: a web page (a site's home page) is searched for the
    feeds it links to (<link rel="alternate" type="application/rss+xml" or atom+xml>), and the first is added;
    a URL that cannot be read now is added as given."""
    from ingest.pipeline import utcnow
    from store import repository
    if not url.startswith(("http://", "https://")):
        raise SourceError(f"sources add {url!r}: not an http(s) URL")
    seconds = duration(interval, "sources add --interval") if interval else None
    with app.sessions.begin() as s:
        known = repository.find_source(s, url)
    url = known.url if known else _feed_url(app, url)
    with app.sessions.begin() as s:
        source, created = repository.add_source(s, url, name, utcnow())
        if seconds:
            repository.set_interval(s, source.id, seconds)
    click.echo(f"{'added' if created else 'already present'}: source {source.id} {source.url}")


def _feed_url(app: App, url: str) -> str:
    """The feed `sources add URL` adds: the URL itself when it is a feed, or when it cannot be read now (a
    source was always added unread: its polls will say what is wrong), else the first feed the web page links
    to; a SourceError when the page links to none. Read through the fetcher polls use (SSRF guard, limits)."""
    from ingest import decoding
    from ingest.discover import FEED_OR_PAGE_ACCEPT, feed_links
    from ingest.errors import FeedError, FetchError
    from ingest.parse import parse_feed
    try:
        response = app.fetcher.get(url, accept=FEED_OR_PAGE_ACCEPT)
    except FetchError as exc:
        click.echo(f"presswire: warning: {exc}; adding it unread", err=True)
        return url
    try:
        parse_feed(response.content, response.final_url, response.headers)
        return url
    except FeedError:
        links = feed_links(decoding.page_content(response.content, response.headers.get("content-type", "")),
                           response.final_url)
    if not links:
        raise SourceError(f"sources add {url}: neither a feed nor a web page that links to one (<link rel="
                          '"alternate" type="application/rss+xml" or "application/atom+xml">): give the feed\'s URL')
    click.echo(f"{url} is a web page, not a feed; the feeds it links to (the first is added):")
    for link in links:
        click.echo(f"  {link.url}  {link.title}".rstrip())
    return links[0].url


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def sources_list(app: App, as_json: bool) -> None:
    """List sources with their poll state."""
    from store import repository
    app.sync_config_sources()
    with app.sessions.begin() as s:
        rows = repository.list_sources(s)
    if as_json:
        for row in rows:
            click.echo(json.dumps(asdict(row), default=_json_default))
        return
    _table(["id", "name", "url", "status", "items", "last poll", "result", "next poll", "interval", "errors",
            "last error"],
           [[r.id, r.name, r.url, r.status, r.item_count, _when(r.last_polled_at), r.last_status or "",
             _when(r.next_poll_at), _interval(r), r.error_count, (r.last_error or "")[:60]] for r in rows])


def _interval(source) -> str:
    """The interval the last poll chose ("own" marks a source's own interval), e.g. "15m", "2h own"."""
    seconds = source.poll_interval or source.interval
    if not seconds:
        return ""
    text = next(f"{seconds / unit:g}{name}" for unit, name in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s"))
                if seconds >= unit or unit == 1)
    return f"{text} own" if source.poll_interval else text


@sources.command("import")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
def sources_import(app: App, opml_file: str) -> None:
    """Add the feeds of an OPML subscription list as sources."""
    from ingest.backfill import import_opml
    for url, title, created in import_opml(app.context(), [opml_file]):
        click.echo(f"{'added' if created else 'already present'}: {url} {title}".rstrip())


@sources.command("pause")
@click.argument("source_ref", metavar="SOURCE")
@click.pass_obj
def sources_pause(app: App, source_ref: str) -> None:
    """Stop polling a source (by id, URL or name) until `sources resume`; its items stay. It stays paused
    across restarts, even while the config file lists it."""
    from store import repository
    app.sync_config_sources()  # so a source of the config file can be named before the first start
    with app.sessions.begin() as s:
        source = _source(s, source_ref, "sources pause")
        if source.status not in ("active", "paused"):
            raise SourceError(f"sources pause {source_ref}: source {source.id} is {source.status}: not polled")
        repository.pause_source(s, source.id)
    click.echo(f"{'already paused' if source.status == 'paused' else 'paused'}: source {source.id} {source.url}")


@sources.command("resume")
@click.argument("source_ref", metavar="SOURCE")
@click.pass_obj
def sources_resume(app: App, source_ref: str) -> None:
    """Poll a paused (or retired: 410 Gone) source again, starting now."""
    from ingest.pipeline import utcnow
    from store import repository
    app.sync_config_sources()
    with app.sessions.begin() as s:
        source = _source(s, source_ref, "sources resume")
        if source.status == "active":
            click.echo(f"already active: source {source.id} {source.url}")
            return
        if source.status not in ("paused", "retired"):
            raise SourceError(f"sources resume {source_ref}: source {source.id} is {source.status}, "
                              "not a feed to poll")
        repository.resume_source(s, source.id, utcnow())
    click.echo(f"resumed: source {source.id} {source.url} (due now)")


@sources.command("set")
@click.argument("source_ref", metavar="SOURCE")
@click.option("--name", help="Its display name (the `source` front-matter field of items stored from now on).")
@click.option("--interval", metavar="DURATION|default",
              help='Its own poll interval, e.g. "5m", "2h"; "default" clears it ([poll] interval or adaptive). '
                   "It applies from the next poll on.")
@click.pass_obj
def sources_set(app: App, source_ref: str, name: str | None, interval: str | None) -> None:
    """Rename a source, or set or clear its own poll interval. A source the config file lists takes its name
    (when the config gives one) and interval from there at every start: change those in the file."""
    from ingest.errors import ConfigError
    from store import repository
    if name is None and interval is None:
        raise ConfigError("sources set: nothing to set (give --name or --interval)")
    seconds = None if interval in (None, "default") else duration(interval, "sources set --interval")
    app.sync_config_sources()
    with app.sessions.begin() as s:
        source = _source(s, source_ref, "sources set")
        listed = _config_entry(app.settings, source)
        for option, decided in (("--name", name is not None and listed and listed.name),
                                ("--interval", interval is not None and listed)):
            if decided:
                raise SourceError(f"sources set {source_ref} {option}: source {source.id} is listed in "
                                  f"{app.settings.config_path}, which sets it at every start: change it there")
        if name is not None:
            repository.rename_source(s, source.id, name)
        if interval is not None:
            repository.set_interval(s, source.id, seconds)
    click.echo(f"updated: source {source.id} {source.url}")


@sources.command("remove")
@click.argument("source_ref", metavar="SOURCE")
@click.option("--delete-items", is_flag=True, help="Delete its stored items too (with their QR code images).")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.pass_obj
def sources_remove(app: App, source_ref: str, delete_items: bool, dry_run: bool) -> None:
    """Remove a source. One with stored items needs --delete-items; a story whose canonical copy goes with
    them keeps its other copies, one of which becomes canonical. A source the config file lists is refused
    (the next start would add it again): remove it from the file first."""
    from ingest.pipeline import utcnow
    from store import repository
    now = utcnow()
    app.sync_config_sources()
    with app.sessions() as s, s.begin():
        source = _source(s, source_ref, "sources remove")
        if _config_entry(app.settings, source):
            raise SourceError(f"sources remove {source_ref}: source {source.id} is listed in "
                              f"{app.settings.config_path}, and the next start would add it again: remove its "
                              "[[sources]] entry there first")
        stored = repository.count_items(s, source.id)
        if stored and not delete_items:
            raise SourceError(f"sources remove {source_ref}: source {source.id} has {stored} stored "
                              "items: give --delete-items to delete them with it (--dry-run shows what would go)")
        removal = repository.remove_source(s, source.id, now)
        if removal is None:
            raise SourceError(f"sources remove {source_ref}: source {source.id} is being polled (a worker holds "
                              "its lease): try again when that poll has ended")
        if dry_run:
            s.rollback()
    images = _qrcode_images(app.settings, removal.urls)
    if not dry_run:
        images = [path for path in images if _delete_file(path)]
    click.echo(f"{'would remove' if dry_run else 'removed'}: source {source.id} {source.url}: {removal.items} items "
               f"({removal.entries} feed entries), {removal.stories_ended} stories with no other copy, "
               f"{removal.canonical_moved} stories now with another source's copy as canonical, "
               f"{len(images)} QR code images")


def _config_entry(settings: Settings, source):
    """The config file's [[sources]] entry of a stored source, if it has one (by its URL, or the one it had
    before a permanent redirect moved it, as sync_config_sources finds it)."""
    return next((c for c in settings.sources if c.url in (source.url, source.previous_url)), None)


def _qrcode_images(settings: Settings, urls: tuple[str, ...]) -> list[Path]:
    """The QR code images in [output] qrcode_dir of items with these url slugs (named as
    ingest.qr.write_qrcode_batch names them; never a file elsewhere)."""
    if not settings.output.qrcode_dir:
        return []
    directory = Path(settings.output.qrcode_dir)
    return [path for path in (directory / f"{url}.png" for url in urls) if path.parent == directory and path.is_file()]


def _delete_file(path: Path) -> bool:
    """Delete a file; one that cannot be deleted is a warning, not an error (what it belonged to is gone)."""
    try:
        path.unlink()
        return True
    except OSError as exc:
        click.echo(f"presswire: warning: cannot delete {path}: {exc.strerror or exc}", err=True)
        return False


# --- backfill -------------------------------------------------------------------------------------

class _When(click.ParamType):
    """A date or date-time (ISO 8601; UTC unless it says otherwise)."""

    name = "DATE"

    def convert(self, value, param, ctx):
        from datetime import datetime, timezone
        if isinstance(value, datetime):
            return value
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
        except (ValueError, OverflowError):  # OverflowError: 9999-12-31T23:00:00-05:00 is in year 10000 in UTC
            self.fail(f"{value!r} is not a date like 2025-05-15 or 2025-05-15T12:00:00Z", param, ctx)


@cli.command()
@click.option("--feed", "feeds", multiple=True, metavar="URL|FILE",
              help="A feed to backfill with its older pages (rel=next / prev-archive, WordPress ?paged=N).")
@click.option("--sitemap", "sitemaps", multiple=True, metavar="URL|FILE", help="A sitemap, news sitemap or index.")
@click.option("--urls", "url_lists", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A text file of article URLs, one a line.")
@click.option("--dir", "directories", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="A directory of documents in the seed formats (front matter, or plain-text articles).")
@click.option("--opml", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="An OPML subscription list: its feeds are added as sources.")
@click.option("--backfill-sources", is_flag=True, help="Backfill the OPML lists' feeds too.")
@click.option("--max-pages", type=click.IntRange(1), help="Pages read per feed. [default: [backfill] max_pages]")
@click.option("--wordpress", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Page feeds with ?paged=N: for WordPress feeds (auto), always, or never.")
@click.option("--since", type=_When(), help="Only items dated on or after this (UTC).")
@click.option("--until", type=_When(), help="Only items dated before this (UTC).")
@click.option("--include", multiple=True, metavar="REGEX", help="Only URLs matching this (any of them).")
@click.option("--exclude", multiple=True, metavar="REGEX", help="Skip URLs matching this.")
@click.option("--date", "doc_date", type=_When(), help="Date of plain-text documents (default: file mtime).")
@click.option("--source-name", default="", help="Name of the sources this run creates for sitemaps, files.")
@click.option("--concurrency", type=click.IntRange(1, 256), help="Pages fetched at once. [default: [backfill]]")
@click.option("--dry-run", is_flag=True, help="Report what would be stored; write nothing.")
@click.option("--restart", is_flag=True, help="Forget the progress of an earlier run with the same arguments.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def backfill(app: App, feeds, sitemaps, url_lists, directories, opml, backfill_sources, max_pages, wordpress,
             since, until, include, exclude, doc_date, source_name, concurrency, dry_run, restart, as_json) -> None:
    """Fill the store with history in one run, then exit; rerun the same command to resume."""
    import re

    from ingest.workers import warm_up
    warm_up(app.settings.extract)  # the workers' imports, on the other core while this process does its own
    from ingest.backfill import Options, Request, backfill as run_backfill
    from ingest.discover import EARLIEST, LATEST, Window
    from ingest.errors import ConfigError
    if not (feeds or sitemaps or url_lists or directories or opml):
        raise ConfigError("backfill: nothing to read (give --feed, --sitemap, --urls, --dir or --opml)")
    if doc_date and not EARLIEST <= doc_date < LATEST:  # items' dates have days added to them (dedup)
        raise ConfigError(f"backfill --date: {doc_date.date().isoformat()} is outside the years {EARLIEST.year} to "
                          f"{LATEST.year - 1}")
    for pattern in include + exclude:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"backfill: bad URL pattern {pattern!r}: {exc}") from exc
    app.extractor.start()  # the workers get ready while this process opens the store and reads the inputs
    conf = app.settings.backfill
    absolute = lambda refs: tuple(r if "://" in r else str(Path(r).resolve()) for r in refs)  # noqa: E731
    request = Request(feeds=absolute(feeds), sitemaps=absolute(sitemaps), url_lists=absolute(url_lists),
                      directories=absolute(directories), opml=absolute(opml), backfill_sources=backfill_sources,
                      max_pages=max_pages or conf.max_pages, wordpress=wordpress,
                      window=Window(since, until, tuple(include), tuple(exclude)), date=doc_date,
                      source_name=source_name)
    options = Options(concurrency=concurrency or conf.concurrency, batch_size=conf.batch_size, dry_run=dry_run,
                      restart=restart)
    ctx = replace(app.context(dry_run=dry_run), fetcher=app.polite(conf.per_host, conf.host_delay))
    tally = run_backfill(ctx, request, options, _reporter(app, ctx, dry_run), offload=app.extractor)
    from ingest.progress import print_summary
    print_summary(tally, sys.stdout, as_json=as_json, dry_run=dry_run)
    if tally.nothing_read:
        raise PresswireError(f"backfill: nothing could be read ({tally.errors} errors; see the "
                             "`backfill error` log lines)")


def _reporter(app: App, ctx: Context, dry_run: bool):
    from ingest.progress import LogReporter, RichReporter
    if sys.stderr.isatty():
        from rich.console import Console
        return RichReporter(Console(stderr=True), dry_run=dry_run)
    return LogReporter(ctx.log, app.settings.backfill.progress_every)


# --- polling --------------------------------------------------------------------------------------

@cli.command()
@click.option("--source", "source_ref", metavar="ID|URL|NAME", help="Poll only this source.")
@click.pass_obj
def poll(app: App, source_ref: str | None) -> None:
    """Poll every active source once (or one source), now, whether due or not."""
    from ingest.pipeline import poll_sources
    from store import repository
    ctx = app.context()
    with app.sessions.begin() as s:
        if source_ref:
            found = _source(s, source_ref, "poll --source")
            if found.status == "paused":  # paused means not polled; `inspect` reads a feed without storing
                raise SourceError(f"poll --source {source_ref}: source {found.id} is paused: `presswire sources "
                                  f"resume {found.id}` first (`presswire inspect {found.url}` reads it, storing "
                                  "nothing)")
            targets = [found.state]
        else:
            targets = [r.state for r in repository.list_sources(s) if r.status == "active"]
    results = poll_sources(ctx, targets)
    failed = [r for r in results if r.status in ("error", "gone")]
    click.echo(f"polled {len(results)} sources: {sum(r.new for r in results)} new items, "
               f"{sum(r.duplicate for r in results)} duplicates, {len(failed)} sources failed; "
               f"{sum(r.copies for r in results)} new items are copies of stored stories", err=True)


@cli.command()
@click.option("--once", is_flag=True, help="Poll what is due once, then exit (for cron).")
@click.pass_obj
def run(app: App, once: bool) -> None:
    """Run the service: poll each source when it is due, until SIGTERM or Ctrl-C.

    Serves /metrics (Prometheus) and /healthz on [service] metrics_host:metrics_port while it runs."""
    from ingest.metrics import Metrics
    from ingest.pipeline import poll_due
    from store import repository
    if once:
        poll_due(app.context())
        return
    from ingest.schedule import run_service

    def in_backoff() -> float:
        """Read when /metrics is scraped: NaN (and an error logged) when the database cannot tell, so the
        scrape still gets the other metrics (an exception here dropped the connection without a response)."""
        from sqlalchemy.exc import SQLAlchemyError
        try:
            with app.sessions.begin() as s:
                return repository.count_sources_in_backoff(s)
        except SQLAlchemyError as exc:
            structlog.get_logger("presswire").error("metrics: sources in backoff unknown",
                                                    error=f"{type(exc).__name__}: {exc}")
            return float("nan")

    metrics = Metrics(backoff_count=in_backoff)
    run_service(app.context(metrics), metrics)


@cli.command("inspect")
@click.argument("targets", nargs=-1, required=True, metavar="URL|FILE...")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON line per page (title, text, body_html, method, trail, promo, ...).")
@click.option("--url", "page_url", metavar="URL", help="The address a FILE is read as (its links resolve against it).")
@click.option("--source", "source_url", metavar="FEED_URL",
              help="Apply the [sources.extract] rules of this configured source.")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="Entries inspected when a target is a feed.")
@click.pass_obj
def inspect_command(app: App, targets: tuple[str, ...], as_json: bool, page_url: str | None,
                    source_url: str | None, limit: int) -> None:
    """Run pages (or a feed's entries) through fetch, extract, normalize and the promotional flag, and
    show what each step produced and why. Nothing is stored."""
    from ingest.inspect import as_json as inspection_json, inspect_target, render
    if source_url and source_url not in {s.url for s in app.settings.sources}:
        raise SourceError(f"inspect --source {source_url}: not a source of the config file")
    ctx = app.inspect_context()
    rules = app.settings.rules_for(source_url) if source_url else None
    failed: list[PresswireError] = []  # a target that cannot be read does not keep the others from being inspected
    for target in targets:
        try:
            for inspection in inspect_target(ctx, target, page_url=page_url, rules=rules, limit=limit):
                click.echo(inspection_json(inspection) if as_json else render(inspection) + "\n")
        except PresswireError as exc:
            click.echo(f"presswire: error: {exc}", err=True)
            failed.append(exc)
    if failed:
        sys.exit(max(exc.exit_code for exc in failed))


# --- items ----------------------------------------------------------------------------------------

@cli.group()
def items() -> None:
    """Read stored items, and judge them again (reclassify)."""


FILTER_NAMES = ("source_ref", "since", "until", "search", "label", "ticker")


def item_filters(func):
    """The filters shared by `items list` and `export` (and, as URL parameters, by the JSON API).
    The command receives them as one `filters` dict."""
    options = [
        click.option("--source", "source_ref", metavar="ID|URL", help="Only this source's items."),
        click.option("--since", metavar="WHEN", help="Items dated at or after: 2025-05-15, "
                     "2025-05-15T16:00:00Z, or an age: 90m, 24h, 7d, 2w."),
        click.option("--until", metavar="WHEN", help="Items dated before (same forms as --since)."),
        click.option("--search", metavar="TEXT", help="Full-text search of title, summary and body; "
                     "every word must match (at most 50 words); best matches first."),
        click.option("--label", type=click.Choice(LABELS), help="Only items with this promotional-content label."),
        click.option("--ticker", metavar="SYMBOL", help="Only items naming this ticker: QS (any exchange) "
                     "or NASDAQ:QS."),
    ]

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, filters={name: kwargs.pop(name) for name in FILTER_NAMES}, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _item_query(s, filters: dict, limit: int | None, **extra) -> ItemQuery:
    from ingest.filters import item_query
    from ingest.pipeline import utcnow
    values = dict(filters)
    source_ref = values.pop("source_ref")
    source_id = _source_id(s, source_ref) if source_ref else None
    return item_query(utcnow(), source_id=source_id, limit=limit, **values, **extra)


def _source_id(s, ref: str, *, by_name: bool = False) -> int:
    """The id of the source `--source` names: by id or URL (`by_name`: or by its name)."""
    return _source(s, ref, "--source", by_name=by_name).id


def _source(s, ref: str, where: str, *, by_name: bool = True) -> StoredSource:
    """The source `ref` names: by id, by URL (also the one it had before a permanent redirect moved it) or by
    its name; a SourceError naming `where` when none."""
    from store import repository
    found = repository.find_source(s, ref) or (repository.source_named(s, ref) if by_name else None)
    if found is None:
        raise SourceError(f"{where} {ref}: no such source (see `presswire sources list`)")
    return found


@items.command("list")
@item_filters
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--all-copies", is_flag=True,
              help="Every stored copy; by default a story syndicated many times is listed once (its canonical "
                   "copy) with its number of copies.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (the default when stdout is not a terminal).")
@click.pass_obj
def items_list(app: App, filters: dict, limit: int, all_copies: bool, as_json: bool) -> None:
    """List stored items, newest first (best match first with --search): one row per story (its canonical
    copy, with the number of copies) unless --all-copies or --source."""
    from ingest.frontmatter import rfc3339
    from store import queries
    with app.sessions.begin() as s:
        rows = queries.find_items(s, _item_query(s, filters, limit, all_copies=all_copies))
    if as_json or not sys.stdout.isatty():
        for row in rows:
            click.echo(json.dumps({k: v for k, v in asdict(row).items() if k != "body_text"},
                                  default=_json_default, ensure_ascii=False))
        return
    _table(["id", "date", "source", "label", "title", "copies", "body"],
           [[r.article_id, rfc3339(r.date), r.source, r.promo.label if r.promo else "-", r.title[:70], r.copies,
             r.method + (" (!)" if r.failure else "")] for r in rows])


@items.command("show")
@click.argument("article_id", type=int)
@click.pass_obj
def items_show(app: App, article_id: int) -> None:
    """Print one item as a front-matter document in the seed format (plus a trailing [presswire]
    table: promotional-content label, scores, tickers and reasons) on stdout; its story's copies and
    how each was matched on stderr."""
    from ingest.frontmatter import item_document
    from store import repository
    with app.sessions.begin() as s:
        item = repository.get_item(s, article_id)
        copies = repository.list_copies(s, item.cluster_id) if item and item.cluster_id else []
    if item is None:
        raise PresswireError(f"items show {article_id}: no such item")
    click.echo(item_document(item))
    click.echo(_copies_text(item, copies), err=True, nl=False)


@items.command("reclassify")
@click.option("--source", "source_ref", metavar="ID|URL|NAME", help="Only this source's items.")
@click.option("--since", metavar="WHEN", help="Only items dated at or after: 2025-05-15, 2025-05-15T16:00:00Z, "
              "or an age: 90m, 24h, 7d, 2w.")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def items_reclassify(app: App, source_ref: str | None, since: str | None, dry_run: bool, as_json: bool) -> None:
    """Judge stored items again with the current promotional rules ([promo] rules) and [promo] policy, after
    either changed (or presswire's built-in rules did): label, scores, reasons, tickers, boilerplate spans,
    draft, and the summary and description built without the boilerplate. Items are done in batches, one
    transaction each; run it again to finish a run that was stopped."""
    from ingest.filters import parse_when
    from ingest.pipeline import utcnow
    from ingest.reclassify import Tally, reclassify
    now = utcnow()
    when = parse_when(since, now, "--since") if since else None
    sessions = app.existing_sessions() if dry_run else app.sessions  # a dry run creates no database either
    tally = Tally()
    if sessions is not None:
        with sessions.begin() as s:
            source_id = _source_id(s, source_ref, by_name=True) if source_ref else None
        tally = reclassify(sessions, app.promo_rules, app.settings.promo.policy, now, source_id=source_id,
                           since=when, dry_run=dry_run)
    click.echo(json.dumps(tally.as_dict(dry_run)) if as_json else tally.text(dry_run))


def _copies_text(item, copies) -> str:
    """The story's copies, and how this item was matched: `items show` explains every dedup decision."""
    from ingest.frontmatter import rfc3339
    lines = [f"story (cluster {item.cluster_id}): {len(copies)} {'copy' if len(copies) == 1 else 'copies'}"]
    for c in copies:
        mark = "*" if c.canonical else " "
        how = "canonical copy" if c.canonical else ""
        if c.match:
            how = (how + "; " if how else "") + _explain(c.match)
        lines.append(f" {mark} item {c.article_id}  {rfc3339(c.date)}  {c.source}  {c.source_link}  {how}".rstrip())
    if item.match:
        lines.append(f"item {item.article_id} {_explain(item.match)}")
    else:
        lines.append(f"item {item.article_id} was the first stored copy of this story")
    return "\n".join(lines) + "\n"


def _explain(match) -> str:
    how = {"content_hash": "same text (content hash)", "jaccard": "shingle Jaccard",
           "containment": "shingle containment", "title_date": "same title within days (short text)"}
    item = f"item {match.matched_id}" if match.matched_id else "an item since removed (sources remove)"
    return f"matched {item} by {how.get(match.method, match.method)}, similarity {match.similarity:.2f}"


# --- export ---------------------------------------------------------------------------------------

@cli.command()
@click.option("--format", "fmt", type=click.Choice(["hugo", "jsonl", "atom"]), default="hugo", show_default=True,
              help="hugo: one seed-format file per item (+ QR code PNGs) in the --out directory; "
                   "jsonl: one JSON object per item; atom: an Atom feed.")
@click.option("--out", required=True, metavar="PATH",
              help="hugo: the directory to write into; jsonl/atom: the file to write, or - for stdout.")
@item_filters
@click.option("--changed-since", metavar="WHEN", help="Only items stored or updated since (incremental export).")
@click.option("--limit", type=click.IntRange(1), help="At most this many items (default: all; atom: [web] page_size).")
@click.option("--no-qrcodes", is_flag=True, help="hugo: do not write the QR code images.")
@click.option("--all-copies", is_flag=True, help="Every stored copy of a syndicated story; by default one per "
              "story (its canonical copy), unless --source.")
@click.pass_obj
def export(app: App, fmt: str, out: str, filters: dict, changed_since: str | None, limit: int | None,
           no_qrcodes: bool, all_copies: bool) -> None:
    """Write stored items as Hugo content files, JSON lines or an Atom feed. Unchanged files are not touched.

    Items labeled promotional are left out when [promo] policy = "exclude_from_exports", and from the
    Atom feed unless --label asks for them."""
    from ingest import export as exporting
    from ingest.atom import atom_feed
    from ingest.pipeline import utcnow
    from store import queries, repository
    if fmt == "atom" and limit is None:
        limit = app.settings.web.page_size
    with app.sessions.begin() as s:
        query = _item_query(s, filters, limit, changed_since=changed_since, all_copies=all_copies,
                            exclude_labels=_excluded_labels(app.settings, fmt, filters["label"]))
        if fmt == "atom":  # (at most --limit entries, [web] page_size by default: one document)
            rows = queries.find_items(s, query)
            _write_export(out, fmt, [atom_feed(rows, _export_feed_info(app.settings, filters, query, changed_since),
                                               utcnow()).decode()], lambda: len(rows))
            return
        # a whole store is streamed, a batch of items at a time: a list of them all would not fit in memory
        stream = _Counted(queries.iter_items(s, query))
        if fmt == "jsonl":
            _write_export(out, fmt, exporting.jsonl(stream), lambda: stream.count)
            return
        if out == "-":
            raise PresswireError("export --format hugo: --out must be a directory, not -")
        # one file per story: the files of its other copies can only be left from an earlier export
        canonical_only = not query.all_copies and query.source_id is None
        try:
            result = exporting.export_hugo(stream, Path(out), qrcodes=not no_qrcodes,
                                           superseded=repository.other_copies(s, stream.stories) if canonical_only
                                           else ())
        except OSError as exc:  # each file's own failure is a skip: this is --out itself (a file there, ...)
            raise PresswireError(f"export --out {out}: cannot make it the export directory: "
                                 f"{exc.strerror or exc}") from exc
    for reason in result.skipped:
        click.echo(f"presswire: skipped {reason}", err=True)
    removed = f", {result.removed} removed (other copies of these stories)" if result.removed else ""
    click.echo(f"exported {stream.count} items to {out}: {result.written} files written, "
               f"{result.unchanged} unchanged{removed}", err=True)


class _Counted:
    """The exported items as they stream by: how many, and the id exported for each story of several copies
    (what `repository.other_copies` needs, once they are all written)."""

    def __init__(self, items):
        self.items, self.count, self.stories = items, 0, {}

    def __iter__(self):
        for item in self.items:
            self.count += 1
            if item.copies > 1 and item.cluster_id is not None:
                self.stories[item.cluster_id] = item.article_id
            yield item


def _write_export(out: str, fmt: str, lines: Iterable[str], count: Callable[[], int]) -> None:
    """A JSON lines or Atom export to stdout (-) or its file, as the lines come; then its summary line
    (`count`: how many items they held, known once they are written)."""
    from ingest import export as exporting
    if out == "-":
        for line in lines:
            click.echo(line, nl=False)
        return
    try:
        changed = exporting.write_lines(Path(out), lines)
    except OSError as exc:  # a directory there, no permission
        raise PresswireError(f"export --out {out}: cannot write the {fmt} file: {exc.strerror or exc}") from exc
    click.echo(f"exported {count()} items to {out} ({'written' if changed else 'unchanged'})", err=True)


def _excluded_labels(settings: Settings, fmt: str, label: str | None) -> tuple[str, ...]:
    if label:
        return ()
    return tuple(sorted({*settings.promo.export_excluded_labels, *(("promotional",) if fmt == "atom" else ())}))


def _feed_info(settings: Settings) -> FeedInfo:
    from ingest.atom import FeedInfo
    base = settings.web.base_url.rstrip("/")
    return FeedInfo(title=settings.web.feed_title, self_url=f"{base}/feed.atom" if base else "",
                    site_url=base, generator_version=__version__)


def _export_feed_info(settings: Settings, filters: dict, query: ItemQuery, changed_since: str | None) -> FeedInfo:
    """An exported feed is the one `serve` gives at [web] base_url with the same filters: that URL is its self
    link and its id comes from it. Without base_url there is no self link, and the id comes from the path and
    query alone. --changed-since has no /feed.atom parameter: such an export has no self link either, and
    changed_since joins the query its id comes from."""
    from urllib.parse import urlencode
    base = settings.web.base_url.rstrip("/")
    params = {"source": query.source_id, "since": filters["since"], "until": filters["until"], "q": query.search,
              "label": query.label, "ticker": query.ticker, "copies": "all" if query.all_copies else None,
              "limit": query.limit if query.limit != settings.web.page_size else None}

    def url(values: dict) -> str:
        encoded = urlencode({k: v for k, v in values.items() if v})
        return f"{base}/feed.atom" + (f"?{encoded}" if encoded else "")

    return replace(_feed_info(settings), self_url=url(params) if base and not changed_since else "",
                   name=url({**params, "changed_since": changed_since}))


@cli.command()
@click.option("--host", help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: [web] port, 8080).")
@click.pass_obj
def serve(app: App, host: str | None, port: int | None) -> None:
    """Serve the stored items read-only: HTML pages, a JSON API (/api/items, /api/sources), /feed.atom."""
    import uvicorn

    from ingest.web import create_app
    from ingest.web.app import WebConfig

    web = app.settings.web
    config = WebConfig(page_size=web.page_size, feed=_feed_info(app.settings))
    uvicorn.run(create_app(app.sessions, config), host=host or web.host, port=web.port if port is None else port,
                log_level=app.settings.log.level.lower(), server_header=False)


# --- database -------------------------------------------------------------------------------------

@cli.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@click.pass_obj
def db_upgrade(app: App, revision: str) -> None:
    """Create or migrate the schema."""
    from alembic.util import CommandError

    from ingest.errors import ConfigError
    from store import db
    try:
        db.upgrade(app.engine, revision)
    except CommandError as exc:  # no such revision, or not one to upgrade to
        raise ConfigError(f"db upgrade --revision {revision}: {exc}") from exc
    click.echo(f"schema at {db.current_revision(app.engine)}")


@db_group.command("current")
@click.pass_obj
def db_current(app: App) -> None:
    """Show the schema revision of the database and the one this presswire needs."""
    from store import db
    click.echo(f"database: {db.current_revision(app.engine) or 'empty'}; needed: {db.head_revision()}")


# --- helpers --------------------------------------------------------------------------------------

def _table(headers: list[str], rows: list[list]) -> None:
    """The cells are Text, not strings: rich reads a string as markup, and titles, source names and errors
    come from feeds. "[b]x[/b]" lost its brackets, ":smile:" became an emoji, and a "[/]" stopped the
    command with a MarkupError traceback."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(*headers, box=None, pad_edge=False)
    for row in rows:
        table.add_row(*(Text(str(c)) for c in row))
    Console(width=None if sys.stdout.isatty() else 1000).print(table)  # piped: whole rows, never wrapped


def _when(value) -> str:
    from ingest.frontmatter import rfc3339
    return rfc3339(value) if value else "-"


def _json_default(value):
    from ingest.frontmatter import rfc3339
    if hasattr(value, "isoformat"):
        return rfc3339(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _worker_id() -> str:
    import os
    import socket
    return f"{socket.gethostname()}:{os.getpid()}"


def main() -> None:
    _utf8_stdout()
    cli(prog_name="presswire")


def _utf8_stdout() -> None:
    """stdout is UTF-8 whatever the locale, as are the files `export` writes: documents, JSON lines and
    `export --out -` are data, and in a Latin-1 locale (or with PYTHONIOENCODING=latin-1) the first title with
    a curly quote ended `items list` in a UnicodeEncodeError traceback. (click does the same for ASCII only.)"""
    import codecs
    encoding = getattr(sys.stdout, "encoding", None)  # None, or no encoding: not a text file (embedded, closed)
    if encoding and codecs.lookup(encoding).name != "utf-8" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")


if __name__ == "__main__":
    main()
