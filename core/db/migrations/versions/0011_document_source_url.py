"""documents: the link a document behind a link was downloaded from

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0011'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # `source` is a String(12), not a database enum: its new value "link" needs no change.
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_column('source_url')
