"""The read-only web app: a Starlette application over a session factory.

    /                      HTML: the items, newest first; a search box and filters; pages
    /items/{id}            HTML: one item, its body, label and reasons, the copies of its story, how it was obtained
    /api/items             JSON: items with the filters of `items list` (source, since, until, q, label,
                           ticker, copies=all), one row per story by default, paginated; `total` is exact
                           up to WebConfig.count_cap (else `total_capped`: more match)
    /api/items/{id}        JSON: one item, with its body
    /api/sources           JSON: the sources and their poll state
    /feed.atom             Atom: the newest items (same filters; promotional ones only with ?label=); its self
                           link is its own URL, query included, and its id comes from that URL

Every item field is untrusted text: templates autoescape (Jinja2), the body is sanitized again (nh3)
before it is marked safe, the Atom feed is built by lxml, and a strict Content-Security-Policy forbids
scripts on every page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ingest.atom import CONTENT_TYPE as ATOM_TYPE, FeedInfo, atom_feed
from ingest.extract import clean_html
from ingest.filters import FilterError, query_from_params
from ingest.frontmatter import presswire_table, rfc3339, seed_front
from ingest.model import Copy, ItemQuery, StoredItem, StoredSource
from ingest.promo import LABELS
from store import queries, repository

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@dataclass(frozen=True)
class WebConfig:
    page_size: int = 50
    # A page counts the matching items up to this many (or to the end of the page, when deeper), not all of
    # them: an exact count grows with the store (220-870 ms on SQLite, 145 ms on PostgreSQL at 200,000 items,
    # for every page), and nobody pages through 10,000 items. More is "more than 10000" (`total_capped`).
    count_cap: int = 10_000
    feed: FeedInfo = FeedInfo()


def create_app(sessions: sessionmaker[Session], config: WebConfig,
               clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> Starlette:
    """The application; `sessions` opens read transactions, one per request."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["when"] = lambda d: rfc3339(d) if d else "-"
    views = _Views(sessions, config, Jinja2Templates(env=env), clock)
    routes = [
        Route("/", views.index),
        Route("/items/{article_id:int}", views.item_page),
        Route("/api/items", views.api_items),
        Route("/api/items/{article_id:int}", views.api_item),
        Route("/api/sources", views.api_sources),
        Route("/feed.atom", views.feed),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return _App(routes=routes, exception_handlers={FilterError: _bad_filter, HTTPException: _http_error,
                                                   Exception: _server_error})


class _App(Starlette):
    """Starlette with SecurityHeaders around its whole middleware stack: outside its error middleware too
    (which user middleware sits inside), so an Internal Server Error carries the headers as well."""

    def build_middleware_stack(self):
        return SecurityHeaders(super().build_middleware_stack())


class _Views:
    def __init__(self, sessions: sessionmaker[Session], config: WebConfig, templates: Jinja2Templates,
                 clock: Callable[[], datetime]):
        self.sessions, self.config, self.templates, self.clock = sessions, config, templates, clock

    def _query(self, request: Request, exclude_labels: tuple[str, ...] = ()) -> tuple[ItemQuery, int]:
        return query_from_params(request.query_params, self.clock(), page_size=self.config.page_size,
                                 exclude_labels=exclude_labels)

    def _page(self, query: ItemQuery) -> tuple[list[StoredItem], _Total, ItemQuery]:
        """The page's items, the total, and the query with its max_id: a walk's first page is of the items
        stored until then, and the links to its other pages carry that id, so items stored meanwhile (newest
        first, or dated in between) shift no page: none is shown twice or skipped. The total is counted up
        to config.count_cap, or to the end of this page when it is deeper: a capped total still tells whether
        there is a next page."""
        with self.sessions.begin() as s:
            if query.max_id is None:
                query = replace(query, max_id=queries.last_item_id(s))
            at_most = max(self.config.count_cap, query.offset + (query.limit or 0))
            counted = queries.count_items(s, query, at_most=at_most)
            return queries.find_items(s, query), _Total(min(counted, at_most), counted > at_most), query

    def index(self, request: Request) -> Response:
        query, page = self._query(request)
        items, total, query = self._page(query)
        with self.sessions.begin() as s:
            sources = repository.list_sources(s)
        params = {k: v for k, v in request.query_params.items() if v and k != "page"}
        walk = _walk_params(params, query)
        return self.templates.TemplateResponse(request, "index.html", {
            "items": items, "total": total.count, "capped": total.capped, "page": page, "sources": sources,
            "params": params, "pages": _pages(total.count, query.limit or 1),
            "link": lambda p: "/?" + urlencode({**walk, "page": p}), "labels": LABELS,
        })

    def item_page(self, request: Request) -> Response:
        item = self._item(request.path_params["article_id"])
        return self.templates.TemplateResponse(request, "item.html", {
            "item": item, "body": Markup(clean_html(item.body_html)), "copies": self._copies(item),
        })

    def api_items(self, request: Request) -> Response:
        query, page = self._query(request)
        items, total, query = self._page(query)
        params = _walk_params({k: v for k, v in request.query_params.items() if k != "page"}, query)
        more = total.capped or query.offset + len(items) < total.count
        return JSONResponse({
            "items": [item_json(i) for i in items], "page": page, "limit": query.limit, "total": total.count,
            "total_capped": total.capped,
            "next": f"/api/items?{urlencode({**params, 'page': page + 1})}" if more else None,
            "prev": f"/api/items?{urlencode({**params, 'page': page - 1})}" if page > 1 else None,
        })

    def api_item(self, request: Request) -> Response:
        item = self._item(request.path_params["article_id"])
        return JSONResponse({**item_json(item), "body_html": clean_html(item.body_html), "body_text": item.body_text,
                             "story": [copy_json(c) for c in self._copies(item)]})

    def api_sources(self, request: Request) -> Response:
        with self.sessions.begin() as s:
            return JSONResponse({"sources": [source_json(r) for r in repository.list_sources(s)]})

    def feed(self, request: Request) -> Response:
        """The newest items, promotional ones left out unless ?label= asks for a label."""
        query, _page = self._query(request, exclude_labels=("promotional",))
        with self.sessions.begin() as s:
            items = queries.find_items(s, query)
        info = replace(self.config.feed, self_url=_feed_url(self.config.feed.self_url, request))
        return Response(atom_feed(items, info, self.clock()), media_type=ATOM_TYPE)

    def _copies(self, item: StoredItem) -> list[Copy]:
        """Every stored copy of the item's story (dedup cluster), canonical first."""
        if item.cluster_id is None:
            return []
        with self.sessions.begin() as s:
            return repository.list_copies(s, item.cluster_id)

    def _item(self, article_id: int) -> StoredItem:
        with self.sessions.begin() as s:
            item = repository.get_item(s, article_id)
        if item is None:
            raise HTTPException(404, f"no item {article_id}")
        return item


@dataclass(frozen=True)
class _Total:
    """How many items match: `count` exactly, or more than `count` when `capped`."""
    count: int
    capped: bool


def item_json(item: StoredItem) -> dict:
    """An item for the API: the seed keys plus how presswire got it (no body: see /api/items/{id})."""
    return {**seed_front(item), "presswire": presswire_table(item) or None, "source_id": item.source_id,
            "method": item.method, "failure": item.failure,
            "created_at": rfc3339(item.created_at) if item.created_at else None,
            "cluster_id": item.cluster_id, "copies": item.copies, "canonical": item.canonical}


def copy_json(copy: Copy) -> dict:
    match = copy.match
    return {"article_id": copy.article_id, "source": copy.source, "source_link": copy.source_link,
            "date": rfc3339(copy.date), "canonical": copy.canonical,
            "match": {"method": match.method, "similarity": match.similarity, "matched_id": match.matched_id or None}
            if match else None}


def source_json(source: StoredSource) -> dict:
    return {k: rfc3339(v) if isinstance(v, datetime) else v for k, v in asdict(source).items()}


def _feed_url(public_url: str, request: Request) -> str:
    """The URL of this feed document, its query included: at the public URL ([web] base_url) when there is
    one, else as requested."""
    if not public_url:
        return str(request.url)
    query = request.url.query
    return f"{public_url}?{query}" if query else public_url


def _walk_params(params: dict[str, str], query: ItemQuery) -> dict[str, str]:
    """The parameters of a page's links to its neighbours: its own, and the max_id its walk started at."""
    return {**params, "max_id": str(query.max_id)} if query.max_id is not None else params


def _pages(total: int, limit: int) -> int:
    return max(1, -(-total // limit))


async def _bad_filter(request: Request, exc: FilterError) -> Response:
    if request.url.path.startswith("/api/") or request.url.path.endswith(".atom"):
        return JSONResponse({"error": str(exc)}, status_code=400)
    return HTMLResponse(f"<!doctype html><title>Bad request</title><p>{_escape(str(exc))}</p>", status_code=400)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return HTMLResponse(f"<!doctype html><title>{exc.status_code}</title><p>{_escape(str(exc.detail))}</p>",
                        status_code=exc.status_code, headers=exc.headers)  # a 405's Allow


async def _server_error(request: Request, exc: Exception) -> Response:
    """An unexpected error (the database unreachable, ...): the API answers JSON, as for every other error
    (Starlette's own answer is text). Starlette still raises the exception afterwards, so it is logged."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "Internal Server Error"}, status_code=500)
    return PlainTextResponse("Internal Server Error", status_code=500)


def _escape(text: str) -> str:
    return str(Markup.escape(text))


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
            await send(message)

        return await self.app(scope, receive, send_with_headers)
