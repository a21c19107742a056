"""backfill: resumable runs, and the provenance of imported documents

Revision ID: 0005_backfill
Revises: 0004_search
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_backfill'
down_revision = '0004_search'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('backfill_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('arguments', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backfill_runs')),
    sa.UniqueConstraint('key', name=op.f('uq_backfill_runs_key'))
    )
    op.create_table('backfill_progress',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('unit_key', sa.String(length=64), nullable=False),
    sa.Column('unit', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['backfill_runs.id'], name=op.f('fk_backfill_progress_run_id_backfill_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backfill_progress')),
    sa.UniqueConstraint('run_id', 'unit_key', name=op.f('uq_backfill_progress_run_id_unit_key'))
    )
    op.create_table('item_origins',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=True),
    sa.Column('feed_item_id', sa.Integer(), nullable=True),
    sa.Column('path', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_origins_item_id_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_item_origins'))
    )


def downgrade() -> None:
    op.drop_table('item_origins')
    op.drop_table('backfill_progress')
    op.drop_table('backfill_runs')
