"""Cells split on the server's evidence: a weight per tile and an area's work, so progress only rises.

A planned tile weighs 1; a split divides its parent's weight among the children (the parent stays,
state `split`). An area's `work_total` is the number of planned tiles and never changes;
`work_done` adds the weight of each finished tile, so `work_done / work_total` rises while the
number of tiles (`tiles_total`) grows with every split.

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


def downgrade() -> None:
    op.drop_column("areas", "work_done")
    op.drop_column("areas", "work_total")
    op.drop_column("tiles", "weight")
