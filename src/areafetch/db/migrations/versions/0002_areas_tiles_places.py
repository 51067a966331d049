"""areas, tiles, places and area_places: the area pipeline's storage.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "areas",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("geometry", postgresql.JSONB(), nullable=False),
        sa.Column("bbox", postgresql.ARRAY(sa.Float(), dimensions=1), nullable=False),
        sa.Column("area_km2", sa.Float(), nullable=False),
        sa.Column("sources", postgresql.ARRAY(sa.String(32), dimensions=1), nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.String(64), dimensions=1), nullable=False),
        sa.Column("state", sa.String(16), server_default="queued", nullable=False),
        sa.Column("failed_reason", sa.Text(), nullable=True),
        sa.Column("job_id", sa.String(128), nullable=True),
        sa.Column("tiles_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tiles_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("upstream_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("summary", postgresql.JSONB(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'planning', 'running', 'completed', 'failed')", name=op.f("ck_areas_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_areas")),
    )
    op.create_table(
        "tiles",
        sa.Column("area_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("tile_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), server_default="pending", nullable=False),
        sa.Column("geometry", postgresql.JSONB(), nullable=False),
        sa.Column("places_found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("upstream_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'done', 'split', 'failed')", name=op.f("ck_tiles_state")),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_tiles_area_id_areas"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("area_id", "source", "tile_id", name=op.f("pk_tiles")),
    )
    op.create_table(
        "places",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(256), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("attributes", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_places")),
        sa.UniqueConstraint("source", "source_id", name=op.f("uq_places_source")),
    )
    op.create_table(
        "area_places",
        sa.Column("area_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_area_places_area_id_areas"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["place_id"], ["places.id"], name=op.f("fk_area_places_place_id_places"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("area_id", "place_id", name=op.f("pk_area_places")),
    )
    op.create_index("ix_area_places_place_id", "area_places", ["place_id"])


def downgrade() -> None:
    op.drop_index("ix_area_places_place_id", table_name="area_places")
    op.drop_table("area_places")
    op.drop_table("places")
    op.drop_table("tiles")
    op.drop_table("areas")
