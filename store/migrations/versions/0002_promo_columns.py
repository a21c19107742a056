"""promotional-content columns on items: label, scores, reasons, tickers, boilerplate spans

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('promo_label', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('promo_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('pr_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('promo_reasons', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('tickers', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('boilerplate', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_items_promo_label'), ['promo_label'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_items_promo_label'))
        batch_op.drop_column('boilerplate')
        batch_op.drop_column('tickers')
        batch_op.drop_column('promo_reasons')
        batch_op.drop_column('pr_score')
        batch_op.drop_column('promo_score')
        batch_op.drop_column('promo_label')
