"""Managing sources over their life, through the CLI on SQLite and PostgreSQL with the 127.0.0.1 server:
pause and resume (claims and `poll` pass a paused source over; the config file does not un-pause it), set
(name, interval), remove (with its items, their stories put right and their QR code images deleted), and
`sources add` given a web page instead of a feed (feed autodiscovery)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import text, update

from conftest import Presswire, write_config
from store.tables import Source


def _sources(pw) -> dict[int, dict]:
    return {r["id"]: r for r in map(json.loads, pw("sources", "list", "--json").stdout.splitlines())}


def _sql(db_url: str, statement):
    """Run one statement on the store (a SQLAlchemy one binds times as presswire stores them)."""
    from store import db
    engine = db.make_engine(db_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement) if isinstance(statement, str) else statement)
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def _items(pw, *args: str) -> list[dict]:
    return [json.loads(line) for line in pw("items", "list", "--json", *args).stdout.splitlines()]


def test_a_paused_source_is_not_polled_until_resumed_whatever_the_config_says(presswire):
    assert "paused: source 1" in presswire("sources", "pause", "InvestorBrandNetwork (IBN)").stdout
    assert "already paused" in presswire("sources", "pause", "1").stdout
    presswire("run", "--once")  # syncs the config's [[sources]], then claims what is due
    presswire("poll")
    assert _sources(presswire)[1]["status"] == "paused" and _items(presswire) == []
    refused = presswire("poll", "--source", "1", ok=False)
    assert refused.exit_code == 3 and "source 1 is paused" in refused.stderr and "sources resume 1" in refused.stderr

    assert "resumed: source 1" in presswire("sources", "resume", "1").stdout
    source = _sources(presswire)[1]
    assert source["status"] == "active" and source["next_poll_at"]  # due now
    presswire("run", "--once")
    assert len(_items(presswire)) == 4
    assert "already active" in presswire("sources", "resume", "1").stdout
    missing = presswire("sources", "pause", "nope", ok=False)
    assert missing.exit_code == 3 and "sources pause nope: no such source" in missing.stderr


def test_set_renames_and_sets_or_clears_the_interval_unless_the_config_decides(presswire, server):
    presswire("sources", "list")  # the config's source is source 1
    presswire("sources", "add", server.url("/bdc/feed.xml?other"), "--name", "Other")
    presswire("sources", "set", "Other", "--name", "Renamed", "--interval", "2h")
    assert (_sources(presswire)[2]["name"], _sources(presswire)[2]["poll_interval"]) == ("Renamed", 7200)
    presswire("sources", "set", "2", "--interval", "default")
    presswire("run", "--once")  # the config's sync leaves a source it does not list alone
    assert (_sources(presswire)[2]["name"], _sources(presswire)[2]["poll_interval"]) == ("Renamed", None)
    for option in (("--interval", "1h"), ("--name", "X")):  # the config sets both at every start
        refused = presswire("sources", "set", "1", *option, ok=False)
        assert refused.exit_code == 3 and f"{option[0]}: source 1 is listed in" in refused.stderr
    assert presswire("sources", "set", "2", ok=False).exit_code == 2
    assert presswire("sources", "set", "2", "--interval", "soon", ok=False).exit_code == 2


def test_remove_deletes_a_source_with_its_items_and_keeps_their_stories_other_copies(tmp_path, db_url, server):
    pw = Presswire(write_config(tmp_path / "c.toml", db_url, [(server.url("/config.xml"), "Configured")]))
    server.route("/config.xml", body="<rss version='2.0'><channel><title>c</title></channel></rss>")
    pw("sources", "list")  # the config's source is source 1
    pw("sources", "add", server.url("/bdc/feed.xml"), "--name", "Wire")
    pw("sources", "add", server.url("/bdc/feed.xml?copy"), "--name", "Copy")
    pw("poll", "--source", "2")  # Wire first: its copies are the canonical ones
    pw("poll", "--source", "3")
    stories = _items(pw)
    assert len(stories) == 4 and {s["copies"] for s in stories} == {2} and {s["source"] for s in stories} == {"Wire"}
    qrcodes = tmp_path / "qrcodes"
    assert len(list(qrcodes.glob("*.png"))) == 8

    refused = pw("sources", "remove", "Wire", ok=False)
    assert refused.exit_code == 3 and "has 4 stored items: give --delete-items" in refused.stderr
    lease = update(Source).where(Source.id == 2).values(lease_owner="w")
    _sql(db_url, lease.values(lease_until=datetime.now(timezone.utc) + timedelta(minutes=5)))  # a worker polls it
    polled = pw("sources", "remove", "Wire", "--delete-items", ok=False)
    assert polled.exit_code == 3 and "source 2 is being polled" in polled.stderr
    _sql(db_url, lease.values(lease_until=datetime.now(timezone.utc) - timedelta(seconds=1)))  # its worker died
    dry = pw("sources", "remove", "Wire", "--delete-items", "--dry-run").stdout
    assert "would remove: source 2" in dry and "4 items (4 feed entries)" in dry
    assert "0 stories with no other copy, 4 stories now with another source's copy" in dry and "4 QR code" in dry
    assert len(_items(pw, "--all-copies")) == 8 and len(list(qrcodes.glob("*.png"))) == 8

    assert "removed: source 2" in pw("sources", "remove", "2", "--delete-items").stdout
    stories = _items(pw)
    assert len(stories) == 4 and {(s["source"], s["copies"], s["canonical"]) for s in stories} == {("Copy", 1, True)}
    assert sorted(p.stem for p in qrcodes.glob("*.png")) == sorted(s["url"] for s in stories)
    assert len(_items(pw, "--search", stories[0]["title"].split()[0])) >= 1  # the index has the copies left...
    assert {s["source"] for s in _items(pw, "--search", stories[0]["title"].split()[0], "--all-copies")} == {"Copy"}
    shown = pw("items", "show", str(stories[0]["article_id"])).stderr  # its match was the copy removed
    assert "1 copy" in shown and "matched an item since removed (sources remove) by same text" in shown

    assert "0 stories now with another" in pw("sources", "remove", "Copy", "--delete-items").stdout
    assert _items(pw, "--all-copies") == [] and list(qrcodes.glob("*.png")) == []
    # nothing left behind: the stories, their band keys, the entries
    assert [_sql(db_url, f"SELECT count(*) FROM {table}") for table in ("clusters", "item_bands", "feed_entries")] \
        == [0, 0, 0]
    assert set(_sources(pw)) == {1}
    listed = pw("sources", "remove", "Configured", ok=False)
    assert listed.exit_code == 3 and "remove its [[sources]] entry there first" in listed.stderr
    assert "removed: source 1" in Presswire(write_config(tmp_path / "c.toml", db_url))("sources", "remove", "1").stdout


PAGE = """<!doctype html><html><head><title>Example Newsroom</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
<link rel="alternate" type="application/rss+xml" title="Newsroom releases" href="releases.xml">
<link rel="Alternate" type="application/atom+xml; charset=utf-8" href="/comments.atom">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
</head><body><p>Welcome.</p></body></html>"""


def test_add_given_a_web_page_adds_the_feed_it_links_to(tmp_path, db_url, empty_server):
    srv = empty_server
    html = {"Content-Type": "text/html; charset=utf-8"}
    srv.route("/news/", body=PAGE, headers=html)
    srv.route("/news/releases.xml", body="<rss version='2.0'><channel><title>r</title></channel></rss>",
              headers={"Content-Type": "application/rss+xml"})
    srv.route("/about/", body="<html><head><title>About</title></head><body><p>No feed.</p></body></html>",
              headers=html)
    pw = Presswire(write_config(tmp_path / "c.toml", db_url))

    added = pw("sources", "add", srv.url("/news/"), "--name", "Newsroom").stdout
    feed = srv.url("/news/releases.xml")
    assert f"{feed}  Newsroom releases\n  {srv.url('/comments.atom')}\n" in added
    assert f"added: source 1 {feed}" in added and "javascript" not in added and "/fr/" not in added
    assert "already present: source 1" in pw("sources", "add", feed).stdout  # a feed is added as it is
    assert "web page" not in pw("sources", "add", srv.url("/news/releases.xml?2")).stdout

    none = pw("sources", "add", srv.url("/about/"), ok=False)
    assert none.exit_code == 3 and "neither a feed nor a web page that links to one" in none.stderr
    unread = pw("sources", "add", srv.url("/missing.xml"))  # 404: added as before presswire read it
    assert "adding it unread" in unread.stderr and "added: source 3" in unread.stdout
    assert [s["url"] for s in _sources(pw).values()] == [feed, srv.url("/news/releases.xml?2"), srv.url("/missing.xml")]
