"""Mail domains: whose is `notifications.edf.fr`? Its supplier's, when `edf.fr` is listed."""

from __future__ import annotations

from collections.abc import Iterable


def domain_matches(sender_domain: str, domains: Iterable[str]) -> bool:
    sender = sender_domain.lower().rstrip(".")
    return any(sender == d or sender.endswith("." + d) for d in (x.lower() for x in domains))


class DomainIndex:
    """Sender domain → the one supplier that uses it, walking up to parent domains."""

    def __init__(self, suppliers: Iterable[tuple[int, Iterable[str]]]) -> None:
        owners: dict[str, set[int]] = {}
        for supplier_id, domains in suppliers:
            for domain in domains:
                owners.setdefault(domain.lower().rstrip("."), set()).add(supplier_id)
        self._owners = owners

    def supplier_for(self, sender_domain: str) -> int | None:
        found = self.suppliers_for(sender_domain)
        # A domain two suppliers share (a marketplace) names neither of them.
        return next(iter(found)) if len(found) == 1 else None

    def suppliers_for(self, sender_domain: str) -> frozenset[int]:
        """Every supplier using the nearest listed domain: several for a shared one
        (EDF's entities, a telecom's brands), all of which a forger may pose as."""
        labels = sender_domain.lower().rstrip(".").split(".")
        for start in range(len(labels) - 1):
            found = self._owners.get(".".join(labels[start:]))
            if found:
                return frozenset(found)
        return frozenset()
