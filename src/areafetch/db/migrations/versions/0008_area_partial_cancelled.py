"""An area may end `partial` (some tiles failed for good, the rest were fetched) or `cancelled`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BEFORE = "state IN ('queued', 'planning', 'running', 'completed', 'failed')"
_AFTER = "state IN ('queued', 'planning', 'running', 'completed', 'partial', 'failed', 'cancelled')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_areas_state"), "areas", type_="check")
    op.create_check_constraint(op.f("ck_areas_state"), "areas", _AFTER)


def downgrade() -> None:
    op.execute("UPDATE areas SET state = 'failed' WHERE state IN ('partial', 'cancelled')")
    op.drop_constraint(op.f("ck_areas_state"), "areas", type_="check")
    op.create_check_constraint(op.f("ck_areas_state"), "areas", _BEFORE)
