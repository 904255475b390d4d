"""the first answer to a batch of redemptions, kept by its Idempotency-Key

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 07:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    big_id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'redemption_batch',
        sa.Column('id', big_id, nullable=False),
        sa.Column('idempotency_key', sa.String(length=200), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('results', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_redemption_batch')),
        sa.UniqueConstraint('idempotency_key', name=op.f('uq_redemption_batch_idempotency_key')),
    )


def downgrade():
    op.drop_table('redemption_batch')
