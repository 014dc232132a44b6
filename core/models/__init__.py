"""The tables and their SQLModel families. Importing this registers every table."""

from core.models.connection import (
    Challenge,
    ChallengeChannel,
    ChallengeState,
    Connection,
    ConnectionCreate,
    ConnectionPublic,
    ConnectionRun,
    ConnectionState,
    RunOutcome,
)
from core.models.conversation import ChatUser, Conversation
from core.models.document import Document, DocumentPublic, DocumentSource, DocumentState
from core.models.flow import FlowState
from core.models.inbound import (
    InboundChannel,
    InboundMessage,
    InboundState,
    SetAsideImage,
    set_aside_images,
)
from core.models.integration import (
    AuthorizationPurpose,
    AuthorizationRequest,
    Integration,
    IntegrationState,
    ListEntry,
    ListKind,
    ListLoad,
    PartyKind,
    Publication,
    PublicationState,
    Rule,
)
from core.models.mailbox import AfterProcessing, Mailbox, MailboxAuth, MailboxCreate, MailboxState
from core.models.notification import Notification, NotificationState
from core.models.rate_limit import RateLimitEntry
from core.models.supplier import Supplier
from core.models.supplier_profile import SupplierProfile
from core.models.vault import VaultCanary
from core.models.workspace import (
    Invite,
    Locale,
    Member,
    Role,
    Workspace,
    WorkspaceCreate,
    WorkspacePublic,
)

__all__ = [
    "AfterProcessing",
    "AuthorizationPurpose",
    "AuthorizationRequest",
    "Challenge",
    "ChallengeChannel",
    "ChallengeState",
    "ChatUser",
    "Connection",
    "ConnectionCreate",
    "ConnectionPublic",
    "ConnectionRun",
    "ConnectionState",
    "Conversation",
    "Document",
    "DocumentPublic",
    "DocumentSource",
    "DocumentState",
    "FlowState",
    "InboundChannel",
    "InboundMessage",
    "InboundState",
    "Integration",
    "IntegrationState",
    "Invite",
    "ListEntry",
    "ListKind",
    "ListLoad",
    "Locale",
    "Mailbox",
    "MailboxAuth",
    "MailboxCreate",
    "MailboxState",
    "Member",
    "Notification",
    "NotificationState",
    "PartyKind",
    "Publication",
    "PublicationState",
    "RateLimitEntry",
    "Role",
    "Rule",
    "RunOutcome",
    "SetAsideImage",
    "Supplier",
    "SupplierProfile",
    "VaultCanary",
    "Workspace",
    "WorkspaceCreate",
    "WorkspacePublic",
    "set_aside_images",
]
