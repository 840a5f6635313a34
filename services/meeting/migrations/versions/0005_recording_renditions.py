"""recording renditions: the transcode job of a recording and its MP4/HLS renditions

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from services.kit.db import migration_schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = migration_schema()
    op.add_column(
        "recordings",
        sa.Column("transcode_job", sa.String(64), nullable=False, server_default=""),
        schema=schema,
    )
    op.add_column(
        "recordings", sa.Column("renditions", sa.Text, nullable=False, server_default="[]"), schema=schema
    )


def downgrade() -> None:
    schema = migration_schema()
    op.drop_column("recordings", "renditions", schema=schema)
    op.drop_column("recordings", "transcode_job", schema=schema)
