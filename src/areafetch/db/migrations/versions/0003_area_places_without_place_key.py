"""area_places.place_id without its foreign key and index: they cost a quarter of a bulk write.

The key's check ran once per inserted link (``SELECT ... FROM places ... FOR KEY SHARE``, which
also marks the place's row as locked) and guarded nothing: links are written only by
``upsert_area_places``, with the ids its own upsert returned in the same statement, and places
are never deleted, so the key's ``ON DELETE CASCADE`` never fired. The index on ``place_id``
served only that cascade; reads go by area (the primary key). Measured in bench/bulk_writes.py.
The key to ``areas`` stays: areas are deleted, and their links go with them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(op.f("fk_area_places_place_id_places"), "area_places", type_="foreignkey")
    op.drop_index("ix_area_places_place_id", table_name="area_places")


def downgrade() -> None:
    op.create_index("ix_area_places_place_id", "area_places", ["place_id"])
    op.create_foreign_key(
        op.f("fk_area_places_place_id_places"),
        "area_places",
        "places",
        ["place_id"],
        ["id"],
        ondelete="CASCADE",
    )
