"""conversations: the aiogram states of the chat before flows are dropped

Every conversation is a flow now (table flowstate). A row left in `conversation` names a
step of the old chat handlers that no handler answers any more: the person would be told
"answer my last question" until they sent /cancel, and a password sealed at the old
password step would stay. Dropped: the person simply starts again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 19:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM conversation")


def downgrade() -> None:
    """Nothing to bring back: the old steps are gone with their handlers."""
