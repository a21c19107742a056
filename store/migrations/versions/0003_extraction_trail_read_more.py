"""items: extraction trail and the read-more URL followed from a teaser page

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extraction_trail', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('read_more_url', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_column('read_more_url')
        batch_op.drop_column('extraction_trail')
