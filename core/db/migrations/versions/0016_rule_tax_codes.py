"""rules: the tax code a person chose for a VAT rate of the supplier

A rate the software has no code for (or a line it wants a code on) is asked about once
in the chat; the answer is the supplier's, per rate: `{"8.5": "TAX085"}`.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 00:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: the rules made before chose no code per rate (None reads as none).
    with op.batch_alter_table('rule', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tax_codes', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rule', schema=None) as batch_op:
        batch_op.drop_column('tax_codes')
