"""flows: conversations in progress, kept with the step a person is at

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.models.base

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'flowstate',
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('flow', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('nonce', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('shown', sa.JSON(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=True),
        sa.Column('telegram_user_id', sa.BigInteger(), nullable=True),
        sa.Column('started_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('key'),
    )
    with op.batch_alter_table('flowstate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flowstate_workspace_id'), ['workspace_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('flowstate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flowstate_workspace_id'))
    op.drop_table('flowstate')
