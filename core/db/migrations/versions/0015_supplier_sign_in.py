"""authorizationrequest: a consent under way for a supplier connection (OAuth sign-in)

A connector that signs in by the owner's consent (Google Ads) shares the accounting
software's single-use `state`; the request then names the connection it signs in, and
its purpose is `supplier`.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 23:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('authorizationrequest', schema=None) as batch_op:
        batch_op.add_column(sa.Column('connection_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_authorizationrequest_connection_id_connection',
            'connection',
            ['connection_id'],
            ['id'],
            ondelete='CASCADE',
        )


def downgrade() -> None:
    with op.batch_alter_table('authorizationrequest', schema=None) as batch_op:
        batch_op.drop_constraint(
            'fk_authorizationrequest_connection_id_connection', type_='foreignkey'
        )
        batch_op.drop_column('connection_id')
