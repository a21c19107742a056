"""`presswire` and `python -m ingest`: the CLI (ingest.cli), imported only when it runs.

multiprocessing runs the main module again in every worker process it starts (to find what the main
module defines). The `presswire` script imports this module and `python -m ingest` is this module, so
a worker re-runs a file that imports nothing, instead of importing the whole CLI (SQLAlchemy, Alembic,
the HTTP client...) it never uses: that import was half of the workers' CPU in a backfill (py-spy). Run it as
`python -m ingest`, not `python -m ingest.cli`, for the same reason.

When the command is done, the process exits without tearing the interpreter down: everything a normal
exit does first still happens (the command closed the store and the worker pool; non-daemon threads are
joined; every atexit handler runs, this one last), then the streams are flushed and the process ends
with the command's exit code. The teardown (freeing what SQLAlchemy, trafilatura, numpy and the promo
rules leave behind) took ~0.4 s of every command: a one-item backfill's process ended
0.40-0.43 s after its command returned, now 0.05-0.07 s (timestamps printed by a throwaway driver).
"""

_exit_code = 0


def main() -> None:
    import atexit

    global _exit_code
    atexit.register(_exit_now)  # registered first, so it runs after every other atexit handler
    from ingest.cli import main as cli_main

    try:
        cli_main()
    except SystemExit as exc:  # click ends every command this way
        _exit_code = _code(exc.code)
        raise
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handling: 128 + SIGINT, as a shell reports it
        _exit_code = 130
        raise
    except BaseException:  # an uncaught error: Python prints it, then the process exits with 1
        _exit_code = 1
        raise


def _code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1  # sys.exit("message"): Python prints the message and exits with 1


def _exit_now() -> None:
    import os
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`presswire items list | head`), a closed stream
            pass
    os._exit(_exit_code)


if __name__ == "__main__":
    main()
