"""read-side indexes: the code browser finds a customer by email in any case

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    # The code browser's search by email compares lower(email); without this index it
    # read every customer.
    op.create_index('ix_customer_email_lower', 'customer', [sa.text('lower(email)')], unique=False)


def downgrade():
    op.drop_index('ix_customer_email_lower', table_name='customer')
