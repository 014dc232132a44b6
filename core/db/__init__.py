"""The database: engine set-up per backend, the unit of work, and migrations."""

from core.db.database import Database, create_database

__all__ = ["Database", "create_database"]
