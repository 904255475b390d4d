"""campaign report: voucher page views once per code per day, and the report's indexes

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    big_id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'voucher_view',
        sa.Column('code_id', big_id, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('pool_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['code_id'], ['code.id'], name=op.f('fk_voucher_view_code_id_code')),
        sa.ForeignKeyConstraint(['pool_id'], ['pool.id'], name=op.f('fk_voucher_view_pool_id_pool')),
        sa.PrimaryKeyConstraint('code_id', 'day', name=op.f('pk_voucher_view')),
    )
    op.create_index('ix_voucher_view_pool_code', 'voucher_view', ['pool_id', 'code_id'])
    op.create_index('ix_redemption_redeemed_at', 'redemption', ['redeemed_at'])
    op.create_index('ix_delivery_failed_pool', 'delivery', ['pool_id'],
                    postgresql_where=sa.text("state = 'failed'"),
                    sqlite_where=sa.text("state = 'failed'"))


def downgrade():
    op.drop_index('ix_delivery_failed_pool', table_name='delivery')
    op.drop_index('ix_redemption_redeemed_at', table_name='redemption')
    op.drop_index('ix_voucher_view_pool_code', table_name='voucher_view')
    op.drop_table('voucher_view')
