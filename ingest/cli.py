"""The `presswire` command: thin commands over the pipeline and the store.

The app state (settings, engine, fetcher) is built once here, at the edge, and passed down.
User-facing failures are PresswireError subclasses; each has an exit code.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from functools import cached_property
from pathlib import Path

import click
import structlog

from ingest import __version__
from ingest.errors import PresswireError, SourceError
from ingest.fetch import Fetcher
from ingest.frontmatter import item_document, rfc3339
from ingest.logs import configure_logging
from ingest.pipeline import Context, poll_due, poll_sources, utcnow
from ingest.promo import LABELS, Rules, load_rules
from ingest.settings import Settings, load_settings
from ingest.workers import Extractor
from store import db, repository


class App:
    """Settings plus the lazily built engine, sessions and fetcher; closed when the command ends."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def engine(self):
        return db.make_engine(self.settings.database.url, pool_size=self.settings.poll.article_workers + 2)

    @cached_property
    def sessions(self):
        db.ensure_schema(self.engine)
        return db.session_factory(self.engine)

    @cached_property
    def fetcher(self) -> Fetcher:
        return Fetcher(self.settings.http)

    @cached_property
    def extractor(self) -> Extractor:
        return Extractor(self.settings.extract)

    @cached_property
    def promo_rules(self) -> Rules:
        """[promo] rules: the promotional-content rules file, read and compiled once."""
        return load_rules(Path(self.settings.promo.rules) if self.settings.promo.rules else None)

    def context(self) -> Context:
        self.sync_config_sources()
        return Context(settings=self.settings, fetcher=self.fetcher, sessions=self.sessions,
                       extract=self.extractor, log=structlog.get_logger("presswire"), worker=_worker_id(),
                       promo_rules=self.promo_rules)

    def sync_config_sources(self) -> None:
        """Sources declared in the config file are added (or renamed) in the store."""
        with self.sessions.begin() as s:
            for src in self.settings.sources:
                repository.add_source(s, src.url, src.name, utcnow())

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
@click.pass_obj
def sources_add(app: App, url: str, name: str) -> None:
    """Add a feed URL to poll."""
    if not url.startswith(("http://", "https://")):
        raise SourceError(f"sources add {url!r}: not an http(s) URL")
    with app.sessions.begin() as s:
        source, created = repository.add_source(s, url, name, utcnow())
    click.echo(f"{'added' if created else 'already present'}: source {source.id} {source.url}")


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def sources_list(app: App, as_json: bool) -> None:
    """List sources with their poll state."""
    app.sync_config_sources()
    with app.sessions.begin() as s:
        rows = repository.list_sources(s)
    if as_json:
        for row in rows:
            click.echo(json.dumps(asdict(row), default=_json_default))
        return
    _table(["id", "name", "url", "status", "items", "last poll", "next poll", "errors", "last error"],
           [[r.id, r.name, r.url, r.status, r.item_count, _when(r.last_polled_at), _when(r.next_poll_at),
             r.error_count, (r.last_error or "")[:60]] for r in rows])


# --- polling --------------------------------------------------------------------------------------

@cli.command()
@click.option("--source", "source_ref", metavar="ID|URL", help="Poll only this source.")
@click.pass_obj
def poll(app: App, source_ref: str | None) -> None:
    """Poll every active source once (or one source), now, whether due or not."""
    ctx = app.context()
    with app.sessions.begin() as s:
        if source_ref:
            found = repository.find_source(s, source_ref)
            if found is None:
                raise SourceError(f"poll --source {source_ref}: no such source (see `presswire sources list`)")
            targets = [found.state]
        else:
            targets = [r.state for r in repository.list_sources(s) if r.status == "active"]
    results = poll_sources(ctx, targets)
    failed = [r for r in results if r.status == "error"]
    click.echo(f"polled {len(results)} sources: {sum(r.new for r in results)} new items, "
               f"{sum(r.duplicate for r in results)} duplicates, {len(failed)} sources failed", err=True)


@cli.command()
@click.option("--once", is_flag=True, help="Poll what is due once, then exit (for cron).")
@click.pass_obj
def run(app: App, once: bool) -> None:
    """Run the service: poll each source when it is due, until SIGTERM or Ctrl-C."""
    ctx = app.context()
    if once:
        poll_due(ctx)
        return
    from ingest.schedule import run_service
    run_service(ctx)


# --- items ----------------------------------------------------------------------------------------

@cli.group()
def items() -> None:
    """Read stored items."""


@items.command("list")
@click.option("--source", "source_ref", metavar="ID|URL", help="Only this source's items.")
@click.option("--label", type=click.Choice(LABELS), help="Only items with this promotional-content label.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="JSON lines (the default when stdout is not a terminal).")
@click.pass_obj
def items_list(app: App, source_ref: str | None, label: str | None, limit: int, as_json: bool) -> None:
    """List stored items, newest first."""
    with app.sessions.begin() as s:
        source_id = None
        if source_ref:
            found = repository.find_source(s, source_ref)
            if found is None:
                raise SourceError(f"items list --source {source_ref}: no such source")
            source_id = found.id
        rows = repository.list_items(s, source_id=source_id, label=label, limit=limit)
    if as_json or not sys.stdout.isatty():
        for row in rows:
            click.echo(json.dumps({k: v for k, v in asdict(row).items() if k != "body_text"},
                                  default=_json_default, ensure_ascii=False))
        return
    _table(["id", "date", "source", "label", "title", "body"],
           [[r.article_id, rfc3339(r.date), r.source, r.promo.label if r.promo else "-", r.title[:70],
             r.method + (" (!)" if r.failure else "")] for r in rows])


@items.command("show")
@click.argument("article_id", type=int)
@click.pass_obj
def items_show(app: App, article_id: int) -> None:
    """Print one item as a front-matter document in the seed format (plus a trailing [presswire]
    table: promotional-content label, scores, tickers and reasons)."""
    with app.sessions.begin() as s:
        item = repository.get_item(s, article_id)
    if item is None:
        raise PresswireError(f"items show {article_id}: no such item")
    click.echo(item_document(item))


# --- database -------------------------------------------------------------------------------------

@cli.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@click.pass_obj
def db_upgrade(app: App, revision: str) -> None:
    """Create or migrate the schema."""
    db.upgrade(app.engine, revision)
    click.echo(f"schema at {db.current_revision(app.engine)}")


@db_group.command("current")
@click.pass_obj
def db_current(app: App) -> None:
    """Show the schema revision of the database and the one this presswire needs."""
    click.echo(f"database: {db.current_revision(app.engine) or 'empty'}; needed: {db.head_revision()}")


# --- helpers --------------------------------------------------------------------------------------

def _table(headers: list[str], rows: list[list]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers, box=None, pad_edge=False)
    for row in rows:
        table.add_row(*(str(c) for c in row))
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def _when(value) -> str:
    return rfc3339(value) if value else "-"


def _json_default(value):
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
    cli(prog_name="presswire")


if __name__ == "__main__":
    main()
