"""live_emotions: whether participants see live emotion indicators (MeetingSettings.live_emotions)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from services.kit.db import migration_schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "meetings",
        sa.Column("live_emotions", sa.Boolean, nullable=False, server_default=sa.false()),
        schema=migration_schema(),
    )


def downgrade() -> None:
    op.drop_column("meetings", "live_emotions", schema=migration_schema())
