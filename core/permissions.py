"""Who may do what in a workspace: the table every interface shares, and `require`,
which core services call before they act (README: "Who may do what").

Roles are checked here and only here, so the chat, the CLI and any later interface
refuse the same things. A grant names the roles that may act on anything, and those
that may act only on what is theirs: a document they own, a challenge of a connection
they own (its code prompt was sent to them).

Every member, whatever the role, may send documents, list and open the inbox, and answer
review questions other than the confirmations in `Action.CONFIRM_TRUST`: those actions
are not in the table because nothing refuses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import NotAllowed
from core.models import Member, Role


class Action(StrEnum):
    ARCHIVE_DOCUMENT = "archive_document"
    #: Say yes (or no) to new bank details or to a sender nothing vouches for: a yes
    #: publishes the document and, for bank details, trusts them for the supplier.
    CONFIRM_TRUST = "confirm_trust"
    ANSWER_CODE = "answer_code"
    ADD_CONNECTION = "add_connection"
    #: Run now, pause, resume, new credentials, remove (core/services/connection_controls).
    MANAGE_CONNECTIONS = "manage_connections"
    MANAGE_INTEGRATION = "manage_integration"
    MANAGE_RULES = "manage_rules"
    #: Send ready documents (or refused ones again) to the accounting software.
    PUBLISH = "publish"
    MANAGE_MAILBOXES = "manage_mailboxes"
    WEEKLY_DIGEST = "weekly_digest"


@dataclass(frozen=True, slots=True)
class Grant:
    """The roles that may act on anything, and those that may act only on their own."""

    anything: frozenset[Role]
    own: frozenset[Role] = frozenset()


MANAGERS: Final = frozenset({Role.OWNER, Role.ADMIN})
EVERYONE: Final = frozenset(Role)

TABLE: Final[Mapping[Action, Grant]] = MappingProxyType(
    {
        Action.ARCHIVE_DOCUMENT: Grant(MANAGERS, own=EVERYONE),
        Action.CONFIRM_TRUST: Grant(MANAGERS),
        Action.ANSWER_CODE: Grant(MANAGERS, own=EVERYONE),
        Action.ADD_CONNECTION: Grant(MANAGERS),
        Action.MANAGE_CONNECTIONS: Grant(MANAGERS, own=EVERYONE),
        Action.MANAGE_INTEGRATION: Grant(MANAGERS),
        Action.MANAGE_RULES: Grant(MANAGERS),
        Action.PUBLISH: Grant(MANAGERS),
        Action.MANAGE_MAILBOXES: Grant(MANAGERS),
        Action.WEEKLY_DIGEST: Grant(MANAGERS),
    }
)


@dataclass(frozen=True, slots=True)
class Operator:
    """The person at the server's command line. They already hold the database and the
    secret key, so the table does not bind them; saying so explicitly (rather than with
    None) keeps a forgotten argument from granting every right."""


OPERATOR: Final = Operator()

#: Who acts: a member of a workspace, or the operator.
Who = Member | Operator


def allows(
    who: Who, action: Action, *, workspace_id: int, resource_owner_id: int | None = None
) -> bool:
    """Whether `who` may do `action` in the workspace, on a resource owned by
    `resource_owner_id` (a member id; None when nobody owns it)."""
    if isinstance(who, Operator):
        return True
    if who.workspace_id != workspace_id:
        return False
    grant, role = TABLE[action], Role(who.role)
    if role in grant.anything:
        return True
    return role in grant.own and resource_owner_id is not None and resource_owner_id == who.id


def require(
    who: Who, action: Action, *, workspace_id: int, resource_owner_id: int | None = None
) -> None:
    """Raise NotAllowed (key "not_allowed", param `action`) unless `allows`."""
    if not allows(who, action, workspace_id=workspace_id, resource_owner_id=resource_owner_id):
        raise NotAllowed(action=str(action))


async def acting(*, session: AsyncSession, member_id: int | None) -> Who:
    """The one who acts, from the services' `actor` convention: a member id, or None for
    the operator. A member id that no longer exists is refused, never promoted."""
    if member_id is None:
        return OPERATOR
    member = await session.get(Member, member_id)
    if member is None:
        raise NotAllowed(action="unknown_member")
    return member
