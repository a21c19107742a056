"""item_bands: the item's day next to the band key, primary key (band_key, item_day, item_id)

A lookup read each key's newest items by id and only then dropped those dated outside the dedup window:
after a newest-first backfill (or any import of older items) more than `max_candidates` look-alikes stored
later filled the scan and a copy never saw its original. With the day in the key, a lookup reads each key's
items dated nearest to the new one. Existing rows get their item's UTC calendar day (days since 1970-01-01).

SQLite cannot change a primary key in place: the table (WITHOUT ROWID) is built anew and the rows copied.

Revision ID: 0008_band_days
Revises: 0007_schedule
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_band_days'
down_revision = '0007_schedule'
branch_labels = None
depends_on = None

DAYS = {  # items.date as days since 1970-01-01 of its UTC date (SQLite stores naive UTC text)
    "sqlite": "CAST(julianday(date(items.date)) - julianday('1970-01-01') AS INTEGER)",
    "postgresql": "(items.date AT TIME ZONE 'UTC')::date - DATE '1970-01-01'",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _rebuild(["band_key", "item_day", "item_id"],
                 f"SELECT item_bands.band_key, {DAYS[dialect]}, item_bands.item_id "
                 "FROM item_bands JOIN items ON items.id = item_bands.item_id")
        return
    op.add_column('item_bands', sa.Column('item_day', sa.Integer(), autoincrement=False, nullable=True))
    op.execute(f"UPDATE item_bands SET item_day = {DAYS[dialect]} FROM items WHERE items.id = item_bands.item_id")
    op.alter_column('item_bands', 'item_day', nullable=False)
    op.drop_constraint(op.f('pk_item_bands'), 'item_bands', type_='primary')
    op.create_primary_key(op.f('pk_item_bands'), 'item_bands', ['band_key', 'item_day', 'item_id'])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(["band_key", "item_id"], "SELECT band_key, item_id FROM item_bands")
        return
    op.drop_constraint(op.f('pk_item_bands'), 'item_bands', type_='primary')
    op.create_primary_key(op.f('pk_item_bands'), 'item_bands', ['band_key', 'item_id'])
    op.drop_column('item_bands', 'item_day')


def _rebuild(key: list[str], rows: str) -> None:
    """SQLite: item_bands with primary key `key` (its columns), filled by the SELECT `rows` in key order (the
    B-tree is then written page after page, not at random places)."""
    columns = {"band_key": sa.Column('band_key', sa.BigInteger(), autoincrement=False, nullable=False),
               "item_day": sa.Column('item_day', sa.Integer(), autoincrement=False, nullable=False),
               "item_id": sa.Column('item_id', sa.Integer(), autoincrement=False, nullable=False)}
    op.create_table('item_bands_new', *(columns[name] for name in key),
                    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_bands_item_id_items'),
                                            ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint(*key, name=op.f('pk_item_bands')),
                    sqlite_with_rowid=False)
    op.execute(f"INSERT INTO item_bands_new ({', '.join(key)}) {rows} "
               f"ORDER BY {', '.join(str(n) for n in range(1, len(key) + 1))}")
    op.drop_table('item_bands')
    op.rename_table('item_bands_new', 'item_bands')
