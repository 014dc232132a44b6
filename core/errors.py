"""Typed failures. Each carries a message key and its parameters, never prose.

The wording lives with each presentation layer (the CLI's texts, the bot's fr/en texts).
Parameters must never hold a secret: they end up in messages and logs.
"""

from __future__ import annotations

from typing import ClassVar


class CourierError(Exception):
    """Base of every failure core reports to a person."""

    key: ClassVar[str] = "error"
    #: 2 for a caller's mistake (bad input), 1 for a failure of the system around it.
    exit_code: ClassVar[int] = 2

    def __init__(self, **params: object) -> None:
        self.params = params
        super().__init__(self.key, params)

    def __str__(self) -> str:
        details = ", ".join(f"{name}={value!r}" for name, value in self.params.items())
        return f"{self.key}({details})"


class ConfigInvalid(CourierError):
    key = "config_invalid"


class DatabaseUnreachable(CourierError):
    key = "database_unreachable"
    exit_code = 1


class DatabaseNotMigrated(CourierError):
    key = "database_not_migrated"
    exit_code = 1


class SecretKeyMissing(CourierError):
    key = "secret_key_missing"
    exit_code = 1


class SecretKeyMismatch(CourierError):
    key = "secret_key_mismatch"
    exit_code = 1


class SecretKeyInvalid(CourierError):
    key = "secret_key_invalid"
    exit_code = 1


class StorageFailed(CourierError):
    key = "storage_failed"
    exit_code = 1


class DocumentTooLarge(CourierError):
    """A file over the size Courier takes in (`mail_max_bytes`), refused before it is read."""

    key = "document_too_large"


class NotFound(CourierError):
    """An object named by the caller does not exist (or is not theirs to see)."""

    key = "not_found"


class WorkspaceNotFound(NotFound):
    key = "workspace_not_found"


class SlugTaken(CourierError):
    key = "slug_taken"


class SlugInvalid(CourierError):
    key = "slug_invalid"


class InviteUnknown(CourierError):
    key = "invite_unknown"


class InviteExpired(CourierError):
    key = "invite_expired"


class InviteUsed(CourierError):
    key = "invite_used"


class IllegalTransition(CourierError):
    key = "illegal_transition"


class ConnectionDuplicate(CourierError):
    key = "connection_duplicate"


class CredentialsMissing(CourierError):
    key = "credentials_missing"


class DateInvalid(CourierError):
    key = "date_invalid"


class MemberNotInWorkspace(CourierError):
    key = "member_not_in_workspace"


class ChallengeClosed(CourierError):
    key = "challenge_closed"


class IntegrationActive(CourierError):
    key = "integration_active"


class ListKindUnknown(CourierError):
    key = "list_kind_unknown"


class AnswerInvalid(CourierError):
    """A person's answer in review cannot be the asked field's value (core/services/review)."""

    key = "answer_invalid"


class NotAllowed(CourierError):
    """The person's role does not allow the action (core/permissions.py holds the table).

    Params: `action` (a core.permissions.Action value), so each interface can say what
    was refused and who may do it instead.
    """

    key = "not_allowed"
