"""notification: processed events, deliveries (queue, log, dead letters), recipients and
preferences, suppressions, webhooks, push subscriptions, reminders

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
        "deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=False),
        sa.Column("last_latency_s", sa.Float(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_time"], schema=schema)
    op.create_index("ix_deliveries_address", "deliveries", ["address", "create_time", "id"], schema=schema)
    op.create_table(
        "processed_events",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(2048), nullable=False),
        sa.Column("p256dh", sa.String(256), nullable=False),
        sa.Column("auth", sa.String(64), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "endpoint", name="uq_push_user_endpoint"),
        schema=schema,
    )
    op.create_table(
        "recipients",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("opt_outs", sa.Text(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("ix_recipients_email", "recipients", ["email"], schema=schema)
    op.create_table(
        "reminders",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("due_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        schema=schema,
    )
    op.create_index("ix_reminders_due", "reminders", ["done", "due_time"], schema=schema)
    op.create_table(
        "suppressions",
        sa.Column("address", sa.String(254), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner_user_id", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("event_types", sa.Text(), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("previous_secret", sa.String(128), nullable=False),
        sa.Column("previous_secret_expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_is_admin", sa.Boolean(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("ix_webhooks_owner", "webhooks", ["owner_user_id", "create_time", "id"], schema=schema)


def downgrade() -> None:
    schema = migration_schema()
    op.drop_table("webhooks", schema=schema)
    op.drop_table("suppressions", schema=schema)
    op.drop_table("reminders", schema=schema)
    op.drop_table("recipients", schema=schema)
    op.drop_table("push_subscriptions", schema=schema)
    op.drop_table("processed_events", schema=schema)
    op.drop_table("deliveries", schema=schema)
