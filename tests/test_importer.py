"""ingest.importer on real files: what a front-matter field the store or the pipeline could not take becomes
(a problem naming the file and the field, never an exception), and the identity of documents without a link."""

from __future__ import annotations

import pytest

from conftest import SEEDS
from ingest.importer import import_file

SEED = (SEEDS / "002_af0badd8b5f78533.txt").read_text()


def doc(tmp_path, name: str, front: str, body: str = "<p>Body.</p>"):
    path = tmp_path / name
    path.write_text(f"+++\ntitle = \"Weekly market update\"\n{front}\n+++\n\n{body}\n")
    return path


@pytest.mark.parametrize("front,field,says", [
    ('date = "2025-05-15T00:00:00Z"\nurl = "../escaped-qr"', "'url'", "must be a slug"),
    ('date = "2025-05-15T00:00:00Z"\nurl = "/tmp/abs-qr"', "'url'", "must be a slug"),
    ('date = "2025-05-15T00:00:00Z"\nurl = "2025-05-15-' + "x" * 300 + '"', "'url'", "at most 200 bytes"),
    ('date = "2025-05-15T00:00:00Z"\narticle_id = 99999999999999999999', "'article_id'", "64-bit"),
    ('date = "2025-05-15T00:00:00Z"\nfeed_item_id = -9223372036854775809', "'feed_item_id'", "64-bit"),
    ('date = "2025-05-15T00:00:00Z"\narticle_id = "85225"', "'article_id'", "must be an integer, got str"),
    ('date = "2025-05-15T00:00:00Z"\nsource_link = "http://[broken/x"', "'source_link'", "not a valid URL"),
    ('date = "2025-05-15T00:00:00Z"\nenclosure = "http://x:99999/a.jpg"', "'enclosure'", "not a valid URL"),
    ('date = "0001-01-01T00:00:00+01:00"', "'date'", "out of range"),
    ('date = "0001-01-01T00:00:00Z"', "'date'", "out of range (years 1000 to 8999 in UTC)"),
    ('date = 9999-12-31T23:00:00-05:00', "'date'", "out of range"),
    ("date = 20250515", "'date'", "must be an RFC 3339 date string or a TOML date, got int 20250515"),
    ("", "'date'", "is missing"),
])
def test_a_field_the_store_cannot_take_is_a_problem_naming_file_and_field(tmp_path, front, field, says):
    path = doc(tmp_path, "bad.md", front)
    imported = import_file(path, source_name="x")
    assert imported.item is None
    assert str(path) in imported.problem and field in imported.problem and says in imported.problem


def test_ids_at_the_64_bit_limits_and_links_with_ipv6_hosts_are_kept(tmp_path):
    path = doc(tmp_path, "ok.md", 'date = "2025-05-15T00:00:00Z"\narticle_id = 9223372036854775807\n'
                                  'feed_item_id = -9223372036854775808\nsource_link = "http://[::1]:8080/a"')
    item = import_file(path, source_name="x").item
    assert (item.origin.article_id, item.origin.feed_item_id) == (2**63 - 1, -2**63)
    assert item.source_link == "http://[::1]:8080/a"


def test_a_link_too_long_for_a_qr_code_gets_no_qr_code_path_unless_the_document_names_one(tmp_path):
    long_link = "https://wire.example/" + "a" * 3000
    plain = import_file(doc(tmp_path, "a.md", f'date = "2025-05-15T00:00:00Z"\nsource_link = "{long_link}"'),
                        source_name="x").item
    assert plain.qrcode == ""  # as a polled item gets: the store names no image that cannot be drawn
    named = import_file(doc(tmp_path, "b.md", f'date = "2025-05-15T00:00:00Z"\nsource_link = "{long_link}"\n'
                                              'qrcode = "qr/b.png"'), source_name="x").item
    short = import_file(doc(tmp_path, "c.md", 'date = "2025-05-15T00:00:00Z"\nsource_link = "https://w.example/a"'),
                        source_name="x").item
    assert (named.qrcode, short.qrcode) == ("qr/b.png", None)  # kept as given; None: named after the slug


@pytest.mark.parametrize("slug", ["Q3_Results", "résultats-t3", "2025-05-15-x.html", "a..b"])
def test_other_systems_slugs_that_are_one_file_name_are_kept(tmp_path, slug):
    item = import_file(doc(tmp_path, "ok.md", f'date = "2025-05-15T00:00:00Z"\nurl = "{slug}"'), source_name="x").item
    assert item.slug == slug
