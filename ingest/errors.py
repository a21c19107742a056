"""The exception tree. Expected outcomes (not modified, duplicate, no text) are values, not exceptions.

    PresswireError                  anything presswire raises on purpose; has an exit code for the CLI
    ├── ConfigError                 a wrong config file, key, type or environment variable
    ├── SourceError                 a source could not be used (unknown id, not a feed, ...)
    │   └── FeedError               the feed bytes are not a feed we can read
    ├── FetchError                  an HTTP request failed; .url and .reason say which and why
    │   ├── TransientFetchError     worth retrying: connect errors, timeouts, 408/429/5xx
    │   └── PermanentFetchError     not worth retrying: other 4xx, too large, bad URL, bad redirect
    └── StoreError                  the database cannot be used (schema out of date, unreachable)
"""

from __future__ import annotations


class PresswireError(Exception):
    exit_code = 1


class ConfigError(PresswireError):
    exit_code = 2


class SourceError(PresswireError):
    exit_code = 3


class FeedError(SourceError):
    pass


class StoreError(PresswireError):
    exit_code = 4


class FetchError(PresswireError):
    """An HTTP request failed. `status` is the HTTP status when there was a response."""

    def __init__(self, url: str, reason: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(f"fetch {url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class TransientFetchError(FetchError):
    pass


class PermanentFetchError(FetchError):
    pass
