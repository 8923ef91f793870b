"""Key rotation: each inspector's grant public key, and intake keys granted to an inspector but not yet claimed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inspectors") as batch:
        batch.add_column(sa.Column("grant_public_key", sa.LargeBinary(), nullable=True))
    op.create_table(
        "key_grants",
        sa.Column(
            "inspector_id",
            sa.Integer(),
            sa.ForeignKey("inspectors.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("intake_key_id", sa.String(16), sa.ForeignKey("intake_keys.id"), primary_key=True),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("granted_on", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("key_grants")
    with op.batch_alter_table("inspectors") as batch:
        batch.drop_column("grant_public_key")
