"""`presswire serve`: read-only HTML pages, a JSON API and an Atom feed over the store (Starlette)."""

from ingest.web.app import create_app

__all__ = ["create_app"]
