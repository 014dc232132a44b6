"""invites: keep the sha256 of each code, never the code

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_hash', sa.String(length=64), nullable=True))
    invite = sa.table('invite', sa.column('id', sa.Integer), sa.column('code', sa.String),
                      sa.column('code_hash', sa.String))
    connection = op.get_bind()
    # Codes still out there keep working: each is replaced by its hash, as new ones are kept.
    for ident, code in connection.execute(sa.select(invite.c.id, invite.c.code)).all():
        digest = hashlib.sha256(code.strip().encode()).hexdigest()
        connection.execute(
            invite.update().where(invite.c.id == ident).values(code_hash=digest)
        )
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.alter_column('code_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_index(batch_op.f('ix_invite_code'))
        batch_op.drop_column('code')
        batch_op.create_index(batch_op.f('ix_invite_code_hash'), ['code_hash'], unique=True)


def downgrade() -> None:
    # A hash cannot be turned back into its code: the invites not yet used are dropped.
    op.execute("DELETE FROM invite WHERE used_at IS NULL")
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=32), nullable=True))
    op.execute("UPDATE invite SET code = substr(code_hash, 1, 32)")
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.alter_column('code', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_index(batch_op.f('ix_invite_code_hash'))
        batch_op.drop_column('code_hash')
        batch_op.create_index(batch_op.f('ix_invite_code'), ['code'], unique=True)
