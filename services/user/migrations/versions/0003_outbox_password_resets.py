"""outbox (account events) and password reset tokens

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from services.kit.db import migration_schema
from services.kit.outbox import create_outbox

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = migration_schema()
    create_outbox(op, schema, "user_outbox")
    op.create_table(
        "password_resets",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("ix_password_resets_user_id", "password_resets", ["user_id"], schema=schema)


def downgrade() -> None:
    schema = migration_schema()
    op.drop_table("password_resets", schema=schema)
    op.drop_table("user_outbox", schema=schema)
