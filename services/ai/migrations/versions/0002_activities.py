"""meeting activities (analytics)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from services.kit.db import migration_schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = migration_schema()
    op.create_table(
        "meeting_activities",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("meeting_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("detail", sa.String(32), nullable=False),
        schema=schema,
    )
    op.create_index(
        "ix_activities_meeting_at", "meeting_activities", ["meeting_id", "at", "id"], schema=schema
    )


def downgrade() -> None:
    op.drop_table("meeting_activities", schema=migration_schema())
