"""What every extraction worker would otherwise load on its first page, loaded once by their forkserver.

ingest.workers lists this module in WORKER_MODULES, which the forkserver imports before it forks any
worker; a forked worker shares what was loaded here:
- tld's public-suffix list (for registrable_domain, in normalize and dedup), ~80 ms of CPU to read, which each
  worker, and each recycled one, paid again;
- what the default promo rules' regexes need (ingest.promo.prepare, ~0.15 s): the rules a worker gets from
  its pool are a copy, which looks each alternative's analysis up in the cache this fills.
"""

from ingest.promo import load_rules, prepare
from ingest.urls import registrable_domain

registrable_domain("https://www.example.com/")
prepare(load_rules(None))
