"""What a workspace knows about each supplier it receives invoices from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models.base import UTCDateTime, utcnow


class SupplierProfile(SQLModel, table=True):
    """A workspace's known supplier: how to recognise it, its bank details, its habits.

    Identified on a new document by VAT number or SIREN, then the catalog entry (found by
    the sender's domain), then the name. `ibans` are the bank accounts seen before: a new
    one is held for review (changed-bank-details fraud). `habits` are answers a person gave
    that hold for every invoice of the supplier ({"currency": "USD", "vat_rate": "20"}).
    """

    __tablename__ = "supplier_profile"
    __table_args__ = (UniqueConstraint("workspace_id", "name_key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    supplier_id: int | None = Field(default=None, foreign_key="supplier.id")
    name: str = Field(max_length=160)
    #: Folded name without legal form, so "Dupont SAS" and "DUPONT" are one supplier.
    name_key: str = Field(max_length=160)
    vat: str | None = Field(default=None, max_length=20, index=True)
    siren: str | None = Field(default=None, max_length=9, index=True)
    ibans: list[str] = Field(default_factory=list, sa_type=JSON)
    habits: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
