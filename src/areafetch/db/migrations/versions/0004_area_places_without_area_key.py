"""area_places.area_id without its foreign key: its per-link check was a fifth of a bulk write.

PostgreSQL checked the key once per inserted link (``SELECT ... FROM areas ... FOR KEY SHARE``,
the same area row 200,000 times in a large write). ``upsert_area_places`` now takes that lock
once per call (and refuses an area that is gone), and ``delete_area`` deletes the area's links
after the area, which the key's ``ON DELETE CASCADE`` did. Measured in bench/bulk_writes.py.

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


def upgrade() -> None:
    op.drop_constraint(op.f("fk_area_places_area_id_areas"), "area_places", type_="foreignkey")


def downgrade() -> None:
    op.execute("DELETE FROM area_places WHERE area_id NOT IN (SELECT id FROM areas)")
    op.create_foreign_key(
        op.f("fk_area_places_area_id_areas"), "area_places", "areas", ["area_id"], ["id"], ondelete="CASCADE"
    )
