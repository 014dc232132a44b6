"""Every flow an interface may start, by name. A new conversation adds its class here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from core.flows.flow import Flow
from core.flows.publish import Publish


def _flows(*classes: type[Flow]) -> Mapping[str, type[Flow]]:
    names = [cls.name for cls in classes]
    assert len(set(names)) == len(names), f"two flows share a name: {names}"
    return MappingProxyType({cls.name: cls for cls in classes})


FLOWS: Mapping[str, type[Flow]] = _flows(Publish)
