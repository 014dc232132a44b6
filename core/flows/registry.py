"""Every flow an interface may start, by name. A new conversation adds its class here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from core.flows.codes import CodeFlow
from core.flows.connect import ConnectFlow
from core.flows.credentials import CredentialsFlow
from core.flows.flow import Flow
from core.flows.integration import IntegrationFlow
from core.flows.joining import Joining
from core.flows.mailbox import MailboxFlow
from core.flows.publish import Publish
from core.flows.reconnect import ReconnectFlow
from core.flows.review import Review
from core.flows.rules import Rules


def _flows(*classes: type[Flow]) -> Mapping[str, type[Flow]]:
    names = [cls.name for cls in classes]
    assert len(set(names)) == len(names), f"two flows share a name: {names}"
    return MappingProxyType({cls.name: cls for cls in classes})


FLOWS: Mapping[str, type[Flow]] = _flows(
    IntegrationFlow,
    Review,
    Joining,
    MailboxFlow,
    ConnectFlow,
    CredentialsFlow,
    ReconnectFlow,
    CodeFlow,
    Publish,
    Rules,
)
