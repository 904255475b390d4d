"""store time zones and the shop's brand

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 06:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    # Tills show times in their store's zone; a store without one uses PORTAL_TIMEZONE.
    op.add_column('store', sa.Column('timezone', sa.String(length=64), nullable=True))
    op.create_table(
        'brand',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('shop_name', sa.String(length=100), nullable=False),
        sa.Column('accent_colour', sa.String(length=7), nullable=False),
        sa.Column('logo', sa.LargeBinary(), nullable=True),
        sa.Column('logo_type', sa.String(length=16), nullable=True),
        sa.Column('logo_etag', sa.String(length=64), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade():
    op.drop_table('brand')
    with op.batch_alter_table('store') as batch_op:
        batch_op.drop_column('timezone')
