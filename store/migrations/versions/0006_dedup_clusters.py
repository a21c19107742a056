"""dedup: clusters, item dedup keys and match explanation, LSH band keys

Existing items each become a cluster of one (canonical = itself). Their dedup keys stay empty
(NULL content_hash/title_key, no band keys): new copies are matched against items stored after
this revision only.

On SQLite the batch rebuilds of `items` drop the full-text triggers of 0004_search; store/migrations/env.py
restores them after every migration run (store.search.repair_sqlite_index).

Revision ID: 0006_dedup
Revises: 0005_backfill
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_dedup'
down_revision = '0005_backfill'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clusters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('canonical_item_id', sa.Integer(), nullable=True),
    sa.Column('copies', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clusters')),
    sa.UniqueConstraint('canonical_item_id', name=op.f('uq_clusters_canonical_item_id'))
    )
    with op.batch_alter_table('clusters', schema=None) as batch_op:  # items <-> clusters refer to each other
        batch_op.create_foreign_key(batch_op.f('fk_clusters_canonical_item_id_items'), 'items',
                                    ['canonical_item_id'], ['id'], ondelete='SET NULL')
    op.create_table('item_bands',
    sa.Column('band_key', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('item_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_bands_item_id_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('band_key', 'item_id', name=op.f('pk_item_bands')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cluster_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('content_hash', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('title_key', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('shingle_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('band_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('wire', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('match_method', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('match_similarity', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('matched_item_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_items_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_content_hash'), ['content_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_title_key'), ['title_key'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_items_cluster_id_clusters'), 'clusters', ['cluster_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_items_matched_item_id_items'), 'items', ['matched_item_id'], ['id'], ondelete='SET NULL')

    _one_cluster_per_existing_item()
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.alter_column('cluster_id', existing_type=sa.Integer(), nullable=False)
    # only now: on SQLite the batch rebuild of `items` drops the old table, which would SET NULL these
    op.execute("UPDATE clusters SET canonical_item_id = id")


def _one_cluster_per_existing_item() -> None:
    op.execute("INSERT INTO clusters (id, canonical_item_id, copies, created_at) "
               "SELECT id, NULL, 1, created_at FROM items")
    op.execute("UPDATE items SET cluster_id = id")
    if op.get_bind().dialect.name == "postgresql":  # explicit ids did not advance the sequence
        op.execute("SELECT setval(pg_get_serial_sequence('clusters', 'id'), "
                   "COALESCE((SELECT MAX(id) FROM clusters), 0) + 1, false)")


def downgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_items_matched_item_id_items'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_items_cluster_id_clusters'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_items_title_key'))
        batch_op.drop_index(batch_op.f('ix_items_content_hash'))
        batch_op.drop_index(batch_op.f('ix_items_cluster_id'))
        batch_op.drop_column('matched_item_id')
        batch_op.drop_column('match_similarity')
        batch_op.drop_column('match_method')
        batch_op.drop_column('wire')
        batch_op.drop_column('band_count')
        batch_op.drop_column('shingle_count')
        batch_op.drop_column('title_key')
        batch_op.drop_column('content_hash')
        batch_op.drop_column('cluster_id')

    op.drop_table('item_bands')
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_clusters_canonical_item_id_items'), type_='foreignkey')
    op.drop_table('clusters')
