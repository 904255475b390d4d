"""batches of codes loaded in steps

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 03:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    # A large import or generation writes its codes in short steps, invisible while the
    # batch is loading, and makes them live in one short final step.
    with op.batch_alter_table('import_batch') as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=16), server_default='live', nullable=False))
        batch_op.add_column(sa.Column('loader', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('code_floor', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_import_batch_state', ['state'], unique=False)


def downgrade():
    with op.batch_alter_table('import_batch') as batch_op:
        batch_op.drop_index('ix_import_batch_state')
        batch_op.drop_column('code_floor')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('loader')
        batch_op.drop_column('state')
