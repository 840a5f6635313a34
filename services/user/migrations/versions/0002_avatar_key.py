"""users.avatar_key: where an uploaded avatar's thumbnails are in the object store

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
    op.add_column(
        "users",
        sa.Column("avatar_key", sa.String(256), nullable=False, server_default=""),
        schema=migration_schema(),
    )


def downgrade() -> None:
    op.drop_column("users", "avatar_key", schema=migration_schema())
