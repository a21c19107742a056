"""presswire ingest: poll feeds, fetch and extract articles, normalize, flag and store them."""

__version__ = "0.1.0"
