"""Table definitions (SQLAlchemy Core): the schema Alembic migrates to."""

from __future__ import annotations

import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from areafetch.areas.states import AREA_STATES

__all__ = [
    "area_places",
    "areas",
    "cell_capacity",
    "metadata",
    "place_density",
    "place_links",
    "places",
    "run_places",
    "test_job_runs",
    "tile_and_cells",
    "tiles",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per test job (idempotent per job id); `runs` counts how often it completed.
test_job_runs = Table(
    "test_job_runs",
    metadata,
    Column("job_id", String(128), primary_key=True),
    Column("queue", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("result", JSONB, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("runs", Integer, nullable=False, server_default="1"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# An area a person asked for; its geometry is GeoJSON (WGS84), its work is tracked per tile.
areas = Table(
    "areas",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("geometry", JSONB, nullable=False),
    Column("bbox", ARRAY(Float, dimensions=1), nullable=False),
    Column("area_km2", Float, nullable=False),
    Column("sources", ARRAY(String(32), dimensions=1), nullable=False),
    Column("categories", ARRAY(String(64), dimensions=1), nullable=False),
    Column("state", String(16), nullable=False, server_default="queued"),
    Column("failed_reason", Text, nullable=True),
    Column("job_id", String(128), nullable=True),
    Column("tiles_total", Integer, nullable=False, server_default="0"),
    Column("tiles_done", Integer, nullable=False, server_default="0"),
    Column("upstream_calls", Integer, nullable=False, server_default="0"),
    # Progress as work (migration 0007): planned tiles weigh 1, split children share their parent's.
    Column("work_total", Float, nullable=False, server_default="0"),
    Column("work_done", Float, nullable=False, server_default="0"),
    Column("summary", JSONB, nullable=True),
    # Runs (migration 0009): a refresh is an area of its own, numbered under the first run.
    Column("refresh_of", UUID(as_uuid=True), nullable=True),
    Column("run", Integer, nullable=False, server_default="1"),
    Column("refresh_every", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(f"state IN ({', '.join(repr(state) for state in AREA_STATES)})", name="state"),
    Index(
        "ix_areas_refresh_of_run",
        "refresh_of",
        "run",
        unique=True,
        postgresql_where=text("refresh_of IS NOT NULL"),
    ),
)

# One unit of upstream work: a tile (Overpass, extract) or a circle (Google) of one area and source.
tiles = Table(
    "tiles",
    metadata,
    Column("area_id", UUID(as_uuid=True), ForeignKey("areas.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(32), nullable=False),
    Column("tile_id", String(128), nullable=False),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("geometry", JSONB, nullable=False),
    Column("places_found", Integer, nullable=False, server_default="0"),
    Column("upstream_calls", Integer, nullable=False, server_default="0"),
    Column("failed_reason", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("weight", Float, nullable=False, server_default="1"),
    # The area whose places served the tile instead of the upstream (migration 0009).
    Column("reused_from", UUID(as_uuid=True), nullable=True),
    PrimaryKeyConstraint("area_id", "source", "tile_id"),
    CheckConstraint("state IN ('pending', 'done', 'split', 'failed')", name="state"),
)

# A place, once per source and source id, whichever areas found it.
places = Table(
    "places",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("source_id", String(256), nullable=False),
    Column("name", Text, nullable=True),
    Column("category", String(64), nullable=False),
    # None once Google's content expired (migration 0010): only the place id may be kept.
    Column("lon", Float, nullable=True),
    Column("lat", Float, nullable=True),
    Column("attributes", JSONB, nullable=False, server_default="{}"),
    Column("fetched_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expired_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("source", "source_id"),
    CheckConstraint(
        "expired_at IS NOT NULL OR (lon IS NOT NULL AND lat IS NOT NULL)", name="position_or_expired"
    ),
    Index(
        "ix_places_google_unexpired",
        "fetched_at",
        postgresql_where=text("source = 'google_places' AND expired_at IS NULL"),
    ),
)

# Which places an area found. No foreign keys: PostgreSQL checked them once per link, about 40% of
# the CPU of a large insert of new places (migrations 0003, 0004). Links are only written by
# `upsert_area_places` (with the ids its upsert returned, under a lock on the area taken once per
# call) and deleted with their area by a statement trigger (migration 0004); places are never deleted.
area_places = Table(
    "area_places",
    metadata,
    Column("area_id", UUID(as_uuid=True), nullable=False),
    Column("place_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("area_id", "place_id"),
)

# Conflation (migration 0011): per area, each place that is the same real place as another of another
# source, linked to it with a score and reasons; `group_id` is the group's smallest place id, which
# has no row of its own. Written whole by finalise (`db.place_links.replace_links`).
place_links = Table(
    "place_links",
    metadata,
    Column("area_id", UUID(as_uuid=True), ForeignKey("areas.id", ondelete="CASCADE"), nullable=False),
    Column("place_id", BigInteger, nullable=False),
    Column("linked_with", BigInteger, nullable=False),
    Column("group_id", BigInteger, nullable=False),
    Column("score", Float, nullable=False),
    Column("reasons", JSONB, nullable=False),
    PrimaryKeyConstraint("area_id", "place_id"),
    Index("ix_place_links_area_id_group_id", "area_id", "group_id"),
)

# Each place as a run of an area saw it (migration 0009), to tell what changed between two runs.
run_places = Table(
    "run_places",
    metadata,
    Column("area_id", UUID(as_uuid=True), ForeignKey("areas.id", ondelete="CASCADE"), nullable=False),
    Column("place_id", BigInteger, nullable=False),
    Column("name", Text, nullable=True),
    Column("category", String(64), nullable=False),
    Column("lon", Float, nullable=True),
    Column("lat", Float, nullable=True),
    Column("attributes_md5", String(32), nullable=False),
    PrimaryKeyConstraint("area_id", "place_id"),
)

# What planning learned (migration 0007): per source, category and coarse cell (0.1°), the places
# found in the largest part of the cell fetched so far.
place_density = Table(
    "place_density",
    metadata,
    Column("source", String(32), nullable=False),
    Column("category", String(64), nullable=False),
    Column("cell", String(32), nullable=False),
    Column("places", Integer, nullable=False),
    Column("observed_km2", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("source", "category", "cell"),
)

# Per source and query limits ("timeout=25,maxsize=67108864"): the fewest places of a cell the server
# could not answer, and the most of one it did.
cell_capacity = Table(
    "cell_capacity",
    metadata,
    Column("source", String(32), nullable=False),
    Column("limits", String(64), nullable=False),
    Column("failed_places", Integer, nullable=True),
    Column("answered_places", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("source", "limits"),
)


def tile_and_cells(area_id: uuid.UUID, source: str, tile_id: str) -> ColumnElement[bool]:
    """A fetch job's tile and the cells it was split into (ids `tile/0`, `tile/0/3`, ...)."""
    prefix = tile_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
    return (
        (tiles.c.area_id == area_id)
        & (tiles.c.source == source)
        & ((tiles.c.tile_id == tile_id) | tiles.c.tile_id.like(prefix, escape="\\"))
    )
