"""schedule: per-source interval, last status, full-fetch time, permanent-redirect tracking

Revision ID: 0007_schedule
Revises: 0006_dedup
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_schedule'
down_revision = '0006_dedup'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sources', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('poll_interval', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('interval', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('last_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('last_full_fetch_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('redirect_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('redirect_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('previous_url', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_sources_previous_url'), ['previous_url'], unique=False)


# SQLite adds and drops these columns in place (ALTER TABLE; DROP COLUMN needs SQLite >= 3.35): a
# move-and-copy rebuild of `sources` would DROP the table that feed_entries and items reference.
def downgrade() -> None:
    with op.batch_alter_table('sources', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_sources_previous_url'))
        batch_op.drop_column('previous_url')
        batch_op.drop_column('redirect_count')
        batch_op.drop_column('redirect_url')
        batch_op.drop_column('last_full_fetch_at')
        batch_op.drop_column('last_status')
        batch_op.drop_column('interval')
        batch_op.drop_column('poll_interval')
