"""users table

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
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("avatar_uri", sa.String(2048), nullable=False, server_default=""),
        sa.Column("role", sa.String(16), nullable=False, server_default="member"),
        sa.Column("state", sa.String(16), nullable=False, server_default="active"),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("ix_users_create_time_id", "users", ["create_time", "id"], schema=schema)


def downgrade() -> None:
    op.drop_table("users", schema=migration_schema())
