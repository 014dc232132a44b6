"""rate limits: calls counted against limits that several processes share

Xero's limits are per company (60 calls a minute, 5,000 a day, 5 at once), whichever
process calls; on PostgreSQL every process counts in this table (core/limits.py).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 23:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'rate_limit_entry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('rate_limit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limit_entry_key'), ['key'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_rate_limit_entry_expires_at'), ['expires_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('rate_limit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_limit_entry_expires_at'))
        batch_op.drop_index(batch_op.f('ix_rate_limit_entry_key'))
    op.drop_table('rate_limit_entry')
