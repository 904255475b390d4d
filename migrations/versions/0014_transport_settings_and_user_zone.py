"""sending channels set up on the portal, and each person's time zone

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    # The pages show a person's times in their own zone; None follows PORTAL_TIMEZONE.
    op.add_column('user', sa.Column('timezone', sa.String(length=64), nullable=True))
    # Email and SMS set up by an admin on the channel page; the environment still wins.
    op.create_table(
        'transport_setting',
        sa.Column('transport', sa.String(length=16), nullable=False),
        sa.Column('values', sa.JSON(), nullable=False),
        sa.Column('secret', sa.Text(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.Integer(), nullable=True),
        sa.CheckConstraint("transport IN ('email', 'sms')", name=op.f('ck_transport_setting_transport')),
        sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_transport_setting_updated_by_user'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('transport', name=op.f('pk_transport_setting')),
    )


def downgrade():
    op.drop_table('transport_setting')
    with op.batch_alter_table('user') as batch_op:
        batch_op.drop_column('timezone')
