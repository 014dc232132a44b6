"""members: the mail address a member forwards invoices from

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mail_address', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch_op.create_index(batch_op.f('ix_member_mail_address'), ['mail_address'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_mail_address'))
        batch_op.drop_column('mail_address')
