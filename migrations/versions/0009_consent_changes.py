"""consent kept as a record of changes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 06:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customer') as batch_op:
        batch_op.add_column(sa.Column('email_withdrawn_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sms_withdrawn_at', sa.DateTime(timezone=True), nullable=True))
    big_id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'consent_change',
        sa.Column('id', big_id, nullable=False),
        sa.Column('customer_id', big_id, nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('consent', sa.Boolean(), nullable=False),
        sa.Column('before', sa.Boolean(), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('detail', sa.String(length=200), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f('ck_consent_change_channel')),
        sa.CheckConstraint("source IN ('list', 'api', 'unsubscribe', 'sms_stop', 'admin')", name=op.f('ck_consent_change_source')),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_consent_change_customer', 'consent_change', ['customer_id', 'at'], unique=False)


def downgrade():
    op.drop_index('ix_consent_change_customer', table_name='consent_change')
    op.drop_table('consent_change')
    with op.batch_alter_table('customer') as batch_op:
        batch_op.drop_column('sms_withdrawn_at')
        batch_op.drop_column('email_withdrawn_at')
