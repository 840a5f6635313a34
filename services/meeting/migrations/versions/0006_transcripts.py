"""transcripts: a meeting's transcript recorded complete, once (CompleteTranscript)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from services.kit.db import migration_schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = migration_schema()
    meetings = f"{schema}.meetings" if schema else "meetings"
    op.create_table(
        "transcripts",
        sa.Column(
            "meeting_id",
            sa.String(32),
            sa.ForeignKey(f"{meetings}.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("segment_count", sa.Integer, nullable=False),
        sa.Column("ready_time", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    op.drop_table("transcripts", schema=migration_schema())
