"""meetings, participants, invitations, recordings

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
    meetings = f"{schema}.meetings.id" if schema else "meetings.id"
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "meetings",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("host_user_id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("start_time", tz, nullable=True),
        sa.Column("end_time", tz, nullable=True),
        sa.Column("passcode_hash", sa.String(255), nullable=True),
        sa.Column("lobby_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("admitted_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("recording_allowed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("ai_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("role_grants", sa.Text, nullable=False, server_default="{}"),
        sa.Column("state", sa.String(16), nullable=False, server_default="scheduled"),
        sa.Column("create_time", tz, nullable=False),
        sa.Column("update_time", tz, nullable=False),
        sa.UniqueConstraint("host_user_id", "request_id", name="uq_meetings_host_request"),
        sa.CheckConstraint("admitted_count >= 0 AND admitted_count <= capacity", name="ck_meetings_seats"),
        schema=schema,
    )
    op.create_index("ix_meetings_host", "meetings", ["host_user_id", "create_time"], schema=schema)
    op.create_table(
        "participants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("meeting_id", sa.String(32), sa.ForeignKey(meetings, ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("create_time", tz, nullable=False),
        sa.Column("admit_time", tz, nullable=True),
        sa.Column("update_time", tz, nullable=False),
        sa.UniqueConstraint("meeting_id", "user_id", name="uq_participants_meeting_user"),
        schema=schema,
    )
    op.create_index("ix_participants_user", "participants", ["user_id"], schema=schema)
    op.create_index(
        "ix_participants_meeting_order", "participants", ["meeting_id", "create_time", "id"], schema=schema
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("meeting_id", sa.String(32), sa.ForeignKey(meetings, ondelete="CASCADE"), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("inviter_user_id", sa.String(32), nullable=False),
        sa.Column("create_time", tz, nullable=False),
        sa.UniqueConstraint("meeting_id", "email", name="uq_invitations_meeting_email"),
        schema=schema,
    )
    op.create_index("ix_invitations_email", "invitations", ["email"], schema=schema)
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("meeting_id", sa.String(32), sa.ForeignKey(meetings, ondelete="CASCADE"), nullable=False),
        sa.Column("object_key", sa.String(1024), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("duration_seconds", sa.Float, nullable=False, server_default="0"),
        sa.Column("size_bytes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("download_uri", sa.Text, nullable=False, server_default=""),
        sa.Column("start_time", tz, nullable=True),
        sa.Column("end_time", tz, nullable=True),
        sa.Column("create_time", tz, nullable=False),
        schema=schema,
    )
    op.create_index("ix_recordings_meeting", "recordings", ["meeting_id", "create_time"], schema=schema)


def downgrade() -> None:
    schema = migration_schema()
    for table in ("recordings", "invitations", "participants", "meetings"):
        op.drop_table(table, schema=schema)
