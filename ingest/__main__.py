"""`presswire` and `python -m ingest`: the CLI (ingest.cli), imported only when it runs.

multiprocessing runs the main module again in every worker process it starts (to find what the main
module defines). The `presswire` script imports this module and `python -m ingest` is this module, so
a worker re-runs a file that imports nothing, instead of importing the whole CLI (SQLAlchemy, Alembic,
httpx...) it never uses: that import was half of the workers' CPU in a backfill (py-spy). Run it as
`python -m ingest`, not `python -m ingest.cli`, for the same reason.
"""


def main() -> None:
    from ingest.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
