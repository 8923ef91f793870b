"""Reviewer app: accounts and sessions, the audit trail, triage metadata, lifecycle clocks, notes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_FALSE = sa.false()
INDEXED = (
    "assignee_id", "complex", "duplicate_of_id", "especially_complex", "protection_requested", "sector", "urgent",
    "ward_code",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "inspectors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("wrapped_keyring", sa.LargeBinary(), nullable=True),
        sa.Column("encrypted_totp_secret", sa.LargeBinary(), nullable=False),
        sa.Column("totp_enrolled", sa.Boolean(), nullable=False),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "reviewer_sessions",
        sa.Column("id", sa.LargeBinary(), primary_key=True),
        sa.Column(
            "inspector_id", sa.Integer(), sa.ForeignKey("inspectors.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("wrapped_keyring", sa.LargeBinary(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False, index=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("action", sa.String(32), nullable=False, index=True),
        sa.Column("case_id", sa.Integer(), nullable=True, index=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("previous_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "case_categories",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("category", sa.String(32), primary_key=True, index=True),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("inspectors.id"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=True),
        sa.Column("to_state", sa.String(32), nullable=True),
        sa.Column("sealed_detail", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("inspectors.id"), nullable=False),
        sa.Column("written_on", sa.Date(), nullable=False),
        sa.Column("sealed_note", sa.LargeBinary(), nullable=False),
    )
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("resolution_due_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("paused_days_left", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("extensions", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("first_decision_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("concluded_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("forwarded_to", sa.String(300), nullable=True))
        batch.add_column(sa.Column("sector", sa.String(32), nullable=True))
        batch.add_column(sa.Column("ward_code", sa.String(8), nullable=True))
        batch.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        for flag in ("urgent", "protection_requested", "complex", "especially_complex"):
            batch.add_column(sa.Column(flag, sa.Boolean(), nullable=False, server_default=_FALSE))
        batch.add_column(sa.Column("duplicate_of_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("identity_revealed_on", sa.Date(), nullable=True))
        batch.create_foreign_key("fk_cases_assignee", "inspectors", ["assignee_id"], ["id"])
        batch.create_foreign_key("fk_cases_duplicate_of", "cases", ["duplicate_of_id"], ["id"])
        for column in INDEXED:
            batch.create_index(f"ix_cases_{column}", [column])
        batch.create_index("ix_cases_state_due", ["state", "answer_due_on", "received_on", "id"])
        batch.create_index("ix_cases_due_order", ["answer_due_on", "received_on", "id"])
        batch.create_index("ix_cases_durations", ["received_on", "first_decision_on", "concluded_on"])
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("inspector_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_messages_inspector", "inspectors", ["inspector_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("fk_messages_inspector", type_="foreignkey")
        batch.drop_column("inspector_id")
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("fk_cases_assignee", type_="foreignkey")
        batch.drop_constraint("fk_cases_duplicate_of", type_="foreignkey")
        batch.drop_index("ix_cases_state_due")
        batch.drop_index("ix_cases_due_order")
        batch.drop_index("ix_cases_durations")
        for column in INDEXED:
            batch.drop_index(f"ix_cases_{column}")
        for column in (
            "resolution_due_on", "paused_days_left", "extensions", "first_decision_on", "concluded_on",
            "forwarded_to", "sector", "ward_code", "assignee_id", "urgent", "protection_requested", "complex",
            "especially_complex", "duplicate_of_id", "identity_revealed_on",
        ):  # fmt: skip
            batch.drop_column(column)
    for table in ("case_notes", "case_events", "case_categories", "audit_head", "audit_events", "reviewer_sessions"):
        op.drop_table(table)
    op.drop_table("inspectors")
