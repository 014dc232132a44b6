"""The supplier catalog, as rows that connections and documents point at."""

from __future__ import annotations

from sqlalchemy import JSON, String
from sqlmodel import Field, SQLModel


class Supplier(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, unique=True, index=True)
    name: str = Field(max_length=160)
    aliases: list[str] = Field(default_factory=list, sa_type=JSON)
    portal: str = Field(default="both", sa_type=String(12))
    portal_url: str = Field(max_length=300)
    category: str = Field(default="other", max_length=20)
    countries: list[str] = Field(default_factory=list, sa_type=JSON)
    domains: list[str] = Field(default_factory=list, sa_type=JSON)
    connector_kind: str = Field(default="portal", sa_type=String(12))
    connector_available: bool = False
    twofa: list[str] = Field(default_factory=list, sa_type=JSON)
    #: False for catalog entries that left the packaged data: kept for old rows, not offered.
    listed: bool = True
