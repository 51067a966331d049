"""Google's retention: content other than the place id is deleted after
`AREAFETCH_GOOGLE_RETENTION_DAYS`; the place keeps its id and `expired_at`, and its name, position
and attributes are gone (a refresh fetches them again).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("places", sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("places", "lon", nullable=True)
    op.alter_column("places", "lat", nullable=True)
    op.create_check_constraint(
        op.f("ck_places_position_or_expired"),
        "places",
        "expired_at IS NOT NULL OR (lon IS NOT NULL AND lat IS NOT NULL)",
    )
    op.create_index(
        op.f("ix_places_google_unexpired"), "places", ["fetched_at"],
        postgresql_where=sa.text("source = 'google_places' AND expired_at IS NULL"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index(op.f("ix_places_google_unexpired"), table_name="places")
    op.drop_constraint(op.f("ck_places_position_or_expired"), "places", type_="check")
    op.execute("DELETE FROM places WHERE expired_at IS NOT NULL")
    op.alter_column("places", "lat", nullable=False)
    op.alter_column("places", "lon", nullable=False)
    op.drop_column("places", "expired_at")
