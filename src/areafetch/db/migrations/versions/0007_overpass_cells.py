"""Cells split on the server's evidence; what was learned about density, to plan the next area.

Progress: a weight per tile and an area's work, so progress only rises.

A planned tile weighs 1; a split divides its parent's weight among the children (the parent stays,
state `split`). An area's `work_total` is the number of planned tiles and never changes;
`work_done` adds the weight of each finished tile, so `work_done / work_total` rises while the
number of tiles (`tiles_total`) grows with every split.

Learning: `place_density` holds, per source, category and coarse grid cell (0.1°), the places
found in the largest part of the cell fetched so far; `cell_capacity` holds, per source and query
limits, the fewest places of a cell the server could not answer and the most of one it did.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tiles", sa.Column("weight", sa.Float(), server_default="1", nullable=False))
    op.add_column("areas", sa.Column("work_total", sa.Float(), server_default="0", nullable=False))
    op.add_column("areas", sa.Column("work_done", sa.Float(), server_default="0", nullable=False))
    op.execute("UPDATE areas SET work_total = tiles_total, work_done = tiles_done")
    op.create_table(
        "place_density",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("cell", sa.String(32), nullable=False),
        sa.Column("places", sa.Integer(), nullable=False),
        sa.Column("observed_km2", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("source", "category", "cell", name="pk_place_density"),
    )
    op.create_table(
        "cell_capacity",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("limits", sa.String(64), nullable=False),
        sa.Column("failed_places", sa.Integer(), nullable=True),
        sa.Column("answered_places", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("source", "limits", name="pk_cell_capacity"),
    )


def downgrade() -> None:
    op.drop_table("cell_capacity")
    op.drop_table("place_density")
    op.drop_column("areas", "work_done")
    op.drop_column("areas", "work_total")
    op.drop_column("tiles", "weight")
