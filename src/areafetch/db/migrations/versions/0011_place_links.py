"""Conflation: `place_links` joins the records of different sources that are one real place, per
area, each link with its score and reasons; a group is named by its smallest place id.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "place_links",
        sa.Column("area_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("linked_with", sa.BigInteger(), nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", postgresql.JSONB(), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_place_links_area_id_areas"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("area_id", "place_id", name=op.f("pk_place_links")),
    )
    op.create_index(op.f("ix_place_links_area_id_group_id"), "place_links", ["area_id", "group_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_place_links_area_id_group_id"), table_name="place_links")
    op.drop_table("place_links")
