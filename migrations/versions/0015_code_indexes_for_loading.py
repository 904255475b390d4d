"""a code carries the customer index only once it has a customer

Revision ID: 0015
Revises: 0012
Create Date: 2026-11-30 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0012'
branch_labels = None
depends_on = None

_ASSIGNED = sa.text('customer_id IS NOT NULL')


def upgrade():
    # An available code has no customer: indexing its NULL only cost every import and
    # generation an index entry per code. Lookups by customer imply NOT NULL, so the
    # partial index serves them (on both databases).
    op.drop_index('ix_code_customer_pool', table_name='code')
    op.create_index('ix_code_customer_pool', 'code', ['customer_id', 'pool_id'], unique=False,
                    postgresql_where=_ASSIGNED, sqlite_where=_ASSIGNED)


def downgrade():
    op.drop_index('ix_code_customer_pool', table_name='code')
    op.create_index('ix_code_customer_pool', 'code', ['customer_id', 'pool_id'], unique=False)
