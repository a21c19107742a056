"""Golden files: fixture entries polled from 127.0.0.1 render byte for byte as fixtures/ibn/expected/*.md.

To regenerate after an intended change, poll the fixture site and write `presswire items show N`
with the server's base URL replaced by __BASE__ (see the README, "Fixtures").
"""

from __future__ import annotations

import pytest

from conftest import ROOT

EXPECTED = ROOT / "fixtures" / "ibn" / "expected"


@pytest.mark.parametrize("article_id,name", [(1, "china"), (2, "helio-grid"), (3, "northfield")])
def test_fixture_entry_normalizes_to_golden_document(presswire, server, article_id, name):
    presswire("poll")
    shown = presswire("items", "show", str(article_id)).stdout
    expected = (EXPECTED / f"{name}.md").read_text().replace("__BASE__", server.base)
    assert shown == expected + "\n"
