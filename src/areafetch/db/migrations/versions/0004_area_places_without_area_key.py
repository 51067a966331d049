"""area_places.area_id without its foreign key: its per-link check was a fifth of a bulk write.

PostgreSQL checked the key once per inserted link (``SELECT ... FROM areas ... FOR KEY SHARE``,
the same area row 200,000 times in a large write). ``upsert_area_places`` now takes that lock
once per call (and refuses an area that is gone). What the key's ``ON DELETE CASCADE`` did, a
statement-level trigger does: any ``DELETE FROM areas`` (ours or an operator's) removes the deleted
areas' links, at no cost to inserts. Measured in bench/bulk_writes.py.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


CASCADE_FUNCTION = """
CREATE FUNCTION area_places_follow_deleted_areas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM area_places WHERE area_id IN (SELECT id FROM deleted_areas);
    RETURN NULL;
END
$$
"""
CASCADE_TRIGGER = """
CREATE TRIGGER areas_delete_their_places_links AFTER DELETE ON areas
REFERENCING OLD TABLE AS deleted_areas FOR EACH STATEMENT
EXECUTE FUNCTION area_places_follow_deleted_areas()
"""


def upgrade() -> None:
    op.drop_constraint(op.f("fk_area_places_area_id_areas"), "area_places", type_="foreignkey")
    op.execute(CASCADE_FUNCTION)
    op.execute(CASCADE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER areas_delete_their_places_links ON areas")
    op.execute("DROP FUNCTION area_places_follow_deleted_areas()")
    op.execute("DELETE FROM area_places WHERE area_id NOT IN (SELECT id FROM areas)")
    op.create_foreign_key(
        op.f("fk_area_places_area_id_areas"), "area_places", "areas", ["area_id"], ["id"], ondelete="CASCADE"
    )
