"""redemption reviewed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    # When a marketer saved the wizard's redemption rules: its stage 5 is then done.
    op.add_column('pool', sa.Column('redemption_reviewed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('pool') as batch_op:
        batch_op.drop_column('redemption_reviewed_at')
