"""event webhooks for integrations: endpoints, the outbox of events, deliveries

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    big_id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'event_endpoint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('description', sa.String(length=200), nullable=False),
        sa.Column('secret', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('busy_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_event_endpoint')),
    )
    op.create_table(
        'outbox_event',
        sa.Column('id', big_id, nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_event')),
    )
    op.create_table(
        'event_delivery',
        sa.Column('id', big_id, nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('event_id', big_id, nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'delivered')", name=op.f('ck_event_delivery_state')),
        sa.ForeignKeyConstraint(['endpoint_id'], ['event_endpoint.id'], ondelete='CASCADE',
                                name=op.f('fk_event_delivery_endpoint_id_event_endpoint')),
        sa.ForeignKeyConstraint(['event_id'], ['outbox_event.id'], ondelete='CASCADE',
                                name=op.f('fk_event_delivery_event_id_outbox_event')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_event_delivery')),
        sa.UniqueConstraint('endpoint_id', 'event_id', name='uq_event_delivery_endpoint_event'),
    )
    op.create_index('ix_event_delivery_next', 'event_delivery', ['endpoint_id', 'state', 'event_id'])


def downgrade():
    op.drop_index('ix_event_delivery_next', table_name='event_delivery')
    op.drop_table('event_delivery')
    op.drop_table('outbox_event')
    op.drop_table('event_endpoint')
