"""The README is part of the product: what it documents must match the code."""

from __future__ import annotations

import re

from conftest import ROOT


def test_readme_documents_every_table_and_column():
    """The README's schema section is how people read the store with SQL tools: it names every column."""
    from store.tables import Base
    readme = (ROOT / "README.md").read_text()
    schema = readme[readme.index("## Database schema"):readme.index("## Layout")]
    named = {word for code in re.findall(r"`([^`]+)`", schema) for word in re.findall(r"\w+", code)}
    missing = [f"{name}.{column.name}" for name, table in Base.metadata.tables.items()
               for column in table.columns if column.name not in named and column.name != "id"]
    assert [name for name in Base.metadata.tables if name not in named] == []
    assert missing == []
