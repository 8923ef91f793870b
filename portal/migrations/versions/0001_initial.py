"""Initial schema: intake keys, cases, messages, reference counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("recovery_wrapped_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "reference_counters",
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(20), nullable=False, unique=True),
        sa.Column("lookup_id", sa.LargeBinary(), nullable=False, unique=True),
        sa.Column("report_type", sa.String(32), nullable=False, index=True),
        sa.Column("state", sa.String(32), nullable=False, index=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False, index=True),
        sa.Column("state_since", sa.Date(), nullable=False),
        sa.Column("answer_due_on", sa.Date(), nullable=True, index=True),
        sa.Column("intake_key_id", sa.String(16), nullable=False),
        sa.Column("reporter_public_key", sa.LargeBinary(), nullable=False),
        sa.Column("reporter_salt", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_report", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_report_for_reporter", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_identity", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("sealed_for_intake", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_for_reporter", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("cases")
    op.drop_table("reference_counters")
    op.drop_table("intake_keys")
