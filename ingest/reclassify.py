"""`presswire items reclassify`: stored items judged again with the current promotional rules ([promo]
rules, or the built-in ones of this presswire) and [promo] policy, after either changed.

The classification is run on what the store holds, which is what ingest.normalize gave it when the item was
stored: body text, title, the feed entry's summary, the source's name and the item's link (an imported
front-matter document: its own summary, as ingest.importer gave it). So a reclassified item is the item a poll
with these rules would store. What depends on the classification is redone with it:

  label, scores, reasons, tickers, boilerplate spans   from classify
  draft        promotional under policy = "draft"; an imported document's own `draft = true` stays (the store
               cannot tell it from one the policy set, and a document's fields are kept as written)
  summary      rebuilt from the stored text without the new boilerplate spans, as normalize builds it
  description  rebuilt likewise when it was built from the text (it is what the old spans give); one that came
               from the page's meta description stays, since the store does not keep the page's
  An imported front-matter document's summary and description stay as written, as the import kept them.

Items are read by id in batches, each read and written in one transaction: memory stays flat, and a run that
was stopped is finished by running it again (an item already judged with these rules does not change).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from ingest.model import Judgement
from ingest.normalize import plain, summaries
from ingest.promo import Rules, classify
from store import repository

BATCH = 500  # items per transaction


@dataclass
class Tally:
    read: int = 0
    changed: int = 0  # items whose stored judgement changed (or would, in a dry run)
    drafts: int = 0  # of those, items whose draft flag changed
    labels: Counter = field(default_factory=Counter)  # (old label, new label) -> items; "none": unclassified

    def as_dict(self, dry_run: bool) -> dict:
        return {"read": self.read, "changed": self.changed, "drafts_changed": self.drafts, "dry_run": dry_run,
                "labels": [{"from": old, "to": new, "items": n} for (old, new), n in sorted(self.labels.items())]}

    def text(self, dry_run: bool) -> str:
        labels = ", ".join(f"{old} -> {new}: {n}" for (old, new), n in sorted(self.labels.items())) or "none"
        verb = "would change (dry run, nothing written)" if dry_run else "changed"
        return (f"reclassified {self.read} items: {self.changed} {verb}; labels changed: {labels}; "
                f"drafts changed: {self.drafts}")


def reclassify(sessions: sessionmaker[Session], rules: Rules, policy: str, now: datetime, *,
               source_id: int | None = None, since: datetime | None = None, dry_run: bool = False,
               batch: int = BATCH) -> Tally:
    """Judge the stored items (the source's, those dated at or after `since`) again; store what changed."""
    tally, after = Tally(), 0
    while True:
        with sessions.begin() as s:
            stored = repository.judgements(s, after=after, limit=batch, source_id=source_id, since=since)
            changed = [(old, new) for old in stored if (new := judge(old, rules, policy)) != old]
            if not dry_run:
                repository.update_judgements(s, [new for _, new in changed], now)
        tally.read += len(stored)
        tally.changed += len(changed)
        tally.drafts += sum(old.draft != new.draft for old, new in changed)
        tally.labels.update((_label(old), _label(new)) for old, new in changed if _label(old) != _label(new))
        if len(stored) < batch:
            return tally
        after = stored[-1].article_id


def judge(item: Judgement, rules: Rules, policy: str) -> Judgement:
    """The item as these rules and this policy would have stored it."""
    imported = item.method == "import"
    feed_summary = plain(item.summary if imported else item.feed_summary_html)
    promo = classify(item.body_text, title=item.title, summary=feed_summary, source_name=item.source_name,
                     source_url=item.source_link, rules=rules)
    draft = (promo.label == "promotional" and policy == "draft") or (imported and item.draft)
    if imported:
        return replace(item, promo=promo, draft=draft)
    summary, description = summaries(item.body_text, feed_summary, "", promo, rules)
    if item.description != summaries(item.body_text, feed_summary, "", item.promo, rules)[1]:
        description = item.description  # from the page's meta description, which the store does not keep
    return replace(item, promo=promo, draft=draft, summary=summary, description=description)


def _label(item: Judgement) -> str:
    return item.promo.label if item.promo else "none"
