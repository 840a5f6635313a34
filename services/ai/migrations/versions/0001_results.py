"""transcript segments and analysis events

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.kit.db import migration_schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = migration_schema()
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "transcript_segments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("meeting_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("spoken_at", tz, nullable=False),
        sa.Column("start_ms", sa.Integer, nullable=False),
        sa.Column("end_ms", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("synthetic_score", sa.Float, nullable=False),
        schema=schema,
    )
    op.create_index(
        "ix_segments_meeting_spoken", "transcript_segments", ["meeting_id", "spoken_at", "id"], schema=schema
    )
    op.create_table(
        "analysis_events",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("meeting_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("create_time", tz, nullable=False),
        schema=schema,
    )
    op.create_index("ix_events_meeting_time", "analysis_events", ["meeting_id", "create_time"], schema=schema)


def downgrade() -> None:
    schema = migration_schema()
    op.drop_table("analysis_events", schema=schema)
    op.drop_table("transcript_segments", schema=schema)
