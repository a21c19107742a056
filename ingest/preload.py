"""What every extraction worker would otherwise load on its first page, loaded once by their forkserver.

ingest.workers lists this module in WORKER_MODULES, which the forkserver imports before it forks any
worker; a forked worker shares what was loaded here. tld's public-suffix list (for registrable_domain, in
normalize and dedup) takes ~80 ms of CPU to read, which each worker, and each recycled one, paid again.
"""

from ingest.urls import registrable_domain

registrable_domain("https://www.example.com/")
