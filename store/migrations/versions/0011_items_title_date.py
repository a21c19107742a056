"""items: index (title_key, date) in place of (title_key)

The short-text fallback (store.repository._title_candidates) wants the items of one title key dated within
a few days of a new item, nearest first. With title_key alone indexed, the database read every item of
that title, of any date, to keep those of the window: a generic title ("Net Asset Value(s)", "Transaction
in Own Shares") repeated daily for a year is thousands of rows per lookup. With this index the lookup reads
only the window's rows, from the new item's date outward. It also serves every lookup the single-column
index served.

Revision ID: 0011_items_title_date
Revises: 0010_items_label_date
Create Date: 2026-11-30
"""
from alembic import op


revision = '0011_items_title_date'
down_revision = '0010_items_label_date'
branch_labels = None
depends_on = None


# CREATE/DROP INDEX in place on both engines (no batch mode: SQLite would rebuild the items table).
def upgrade() -> None:
    op.create_index(op.f('ix_items_title_key_date'), 'items', ['title_key', 'date'], unique=False)
    op.drop_index(op.f('ix_items_title_key'), table_name='items')


def downgrade() -> None:
    op.create_index(op.f('ix_items_title_key'), 'items', ['title_key'], unique=False)
    op.drop_index(op.f('ix_items_title_key_date'), table_name='items')
