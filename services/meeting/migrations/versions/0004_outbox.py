"""outbox: meeting events written in the same transaction as the change (see kit/outbox.py)

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from services.kit.db import migration_schema
from services.kit.outbox import create_outbox

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox(op, migration_schema(), "meeting_outbox")


def downgrade() -> None:
    op.drop_table("meeting_outbox", schema=migration_schema())
