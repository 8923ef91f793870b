"""Evidence files: sealed headers and secretstream ciphertext chunks, stored in the database.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column(
            "message_id", sa.Integer(), sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=True, index=True
        ),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("inspector_id", sa.Integer(), sa.ForeignKey("inspectors.id"), nullable=True),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("stream_header", sa.LargeBinary(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("sealed_for_intake", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_for_reporter", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "attachment_chunks",
        sa.Column(
            "attachment_id",
            sa.Integer(),
            sa.ForeignKey("attachments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attachment_chunks")
    op.drop_table("attachments")
