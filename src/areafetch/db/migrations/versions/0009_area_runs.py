"""Runs of an area: a refresh fetches the same area again as a new run, and each run keeps what it
found, so two runs can be compared.

A run is an area row of its own (`refresh_of` names the first run, `run` numbers them from 1), so
its tiles, jobs and place links work as for any area. `run_places` keeps each place as a run saw it
(name, category, position, a hash of its attributes): `places` holds only the latest values.
`refresh_every` (on the first run) is its schedule: an interval in seconds or a cron expression.
`tiles.reused_from` names the area whose places served a tile instead of the upstream.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("areas", sa.Column("refresh_of", postgresql.UUID(as_uuid=True), nullable=True))
    op.add_column("areas", sa.Column("run", sa.Integer(), server_default="1", nullable=False))
    op.add_column("areas", sa.Column("refresh_every", sa.String(100), nullable=True))
    op.create_index(
        op.f("ix_areas_refresh_of_run"), "areas", ["refresh_of", "run"], unique=True,
        postgresql_where=sa.text("refresh_of IS NOT NULL"),
    )  # fmt: skip
    op.add_column("tiles", sa.Column("reused_from", postgresql.UUID(as_uuid=True), nullable=True))
    op.create_table(
        "run_places",
        sa.Column("area_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),  # None once Google's content expired (0010)
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("attributes_md5", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_run_places_area_id_areas"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("area_id", "place_id", name=op.f("pk_run_places")),
    )


def downgrade() -> None:
    op.drop_table("run_places")
    op.drop_column("tiles", "reused_from")
    op.drop_index(op.f("ix_areas_refresh_of_run"), table_name="areas")
    op.drop_column("areas", "refresh_every")
    op.drop_column("areas", "run")
    op.drop_column("areas", "refresh_of")
