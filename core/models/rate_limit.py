"""Calls counted against limits that several processes share (core/limits.py)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class RateLimitEntry(SQLModel, table=True):
    """One call counted in a moving window, or one call in flight (a lease). Times are
    the database's clock in epoch seconds, the same for every process."""

    __tablename__ = "rate_limit_entry"

    id: int | None = Field(default=None, primary_key=True)
    #: The limit and whose it is, e.g. "xero:<tenant>:60/60s" or "xero:<tenant>:in-flight".
    key: str = Field(max_length=200, index=True)
    amount: int = 1
    at: float
    #: When the row stops counting: the end of its window, or of its lease.
    expires_at: float = Field(index=True)
