"""A known value sealed under the current key, to tell a wrong or missing key at start."""

from __future__ import annotations

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from core.models.base import SEALED


class VaultCanary(SQLModel, table=True):
    __tablename__ = "vault_canary"

    name: str = Field(primary_key=True, max_length=20)
    sealed: str = Field(sa_type=Text, repr=False, sa_column_kwargs=SEALED)
