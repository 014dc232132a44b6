"""connection runs: how many invoices the site's list showed

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-14 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: the runs recorded before did not count the list (their `documents_found`
    # is what they saw in their window).
    with op.batch_alter_table('connectionrun', schema=None) as batch_op:
        batch_op.add_column(sa.Column('documents_listed', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('connectionrun', schema=None) as batch_op:
        batch_op.drop_column('documents_listed')
