"""DMARC (RFC 7489): the From domain's policy, and whether SPF or DKIM passed aligned with it.

The record is looked up at `_dmarc.<From domain>`, then at the organisational domain's
(§6.6.3); a subdomain falls under the organisation's `sp=`. Zero or several valid records
mean no policy. `pct=` and reporting tags do not change what is true about the sender, so
they are not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from mail.authentication.bridge import BoundedResolver
from mail.authentication.domains import aligned, organisational_domain
from mail.authentication.resolver import DnsTemporaryError
from mail.authentication.results import (
    DkimSignature,
    DmarcOutcome,
    DmarcPolicy,
    SpfOutcome,
)

_POLICIES = ("none", "quarantine", "reject")


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """The tags of a DMARC record that decide the result and the policy."""

    policy: DmarcPolicy
    subdomain_policy: DmarcPolicy
    strict_dkim: bool = False
    strict_spf: bool = False


@dataclass(frozen=True, slots=True)
class PolicyLookup:
    """The record that applies to a From domain, and where it was found."""

    record: DmarcRecord | None
    at_organisation: bool = False
    failed: bool = False  # DNS failed: the answer is not known yet


def parse_record(text: str) -> DmarcRecord | None:
    """A DMARC record, or None when `text` is not one (§6.3: v=DMARC1 comes first)."""
    parts = text.split(";")
    if "".join(parts[0].split()) != "v=DMARC1":
        return None
    tags: dict[str, str] = {}
    for part in parts[1:]:
        name, _, value = part.partition("=")
        # The first of a repeated tag counts; a part without "=" is noise, not a veto.
        tags.setdefault(name.strip().lower(), value.strip())
    # §6.6.3: a record with a bad p= still says the domain takes part; read it as "none".
    policy = _policy(tags.get("p", ""), "none")
    return DmarcRecord(
        policy=policy,
        subdomain_policy=_policy(tags.get("sp", ""), policy),
        strict_dkim=tags.get("adkim", "r").lower() == "s",
        strict_spf=tags.get("aspf", "r").lower() == "s",
    )


async def find_policy(from_domain: str, resolver: BoundedResolver) -> PolicyLookup:
    """The record for `from_domain`, at its own name or its organisation's. Never raises."""
    if not from_domain:
        return PolicyLookup(None)
    try:
        record = await _record_at(from_domain, resolver)
        if record is not None:
            return PolicyLookup(record)
        organisation = organisational_domain(from_domain)
        if organisation == from_domain:
            return PolicyLookup(None)
        return PolicyLookup(await _record_at(organisation, resolver), at_organisation=True)
    except DnsTemporaryError:
        return PolicyLookup(None, failed=True)


def evaluate(
    from_domains: tuple[str, ...],
    lookup: PolicyLookup,
    *,
    spf: SpfOutcome,
    dkim: tuple[DkimSignature, ...],
) -> tuple[DmarcOutcome, str | None]:
    """The DMARC outcome and the identifier that passed aligned with From, if any.

    The aligned identifier is given even without a record (with relaxed alignment): a
    signature by the From domain itself vouches for it whether or not it publishes DMARC.
    """
    if len(from_domains) != 1 or not from_domains[0]:
        # §6.6.1: no usable From, or several, cannot be evaluated.
        return DmarcOutcome("permerror"), None
    from_domain = from_domains[0]
    record = lookup.record
    strict_dkim = record.strict_dkim if record else False
    strict_spf = record.strict_spf if record else False
    identifier = next(
        (
            sig.domain
            for sig in dkim
            if sig.result == "pass" and aligned(sig.domain, from_domain, strict=strict_dkim)
        ),
        None,
    )
    if (
        identifier is None
        and spf.result == "pass"
        and aligned(spf.domain, from_domain, strict=strict_spf)
    ):
        identifier = spf.domain
    if lookup.failed:
        return DmarcOutcome("temperror"), identifier
    if record is None:
        return DmarcOutcome("none"), identifier
    policy = record.subdomain_policy if lookup.at_organisation else record.policy
    return DmarcOutcome("pass" if identifier else "fail", policy), identifier


async def _record_at(domain: str, resolver: BoundedResolver) -> DmarcRecord | None:
    texts = await resolver.txt(f"_dmarc.{domain}")
    records = [record for record in map(parse_record, texts) if record is not None]
    return records[0] if len(records) == 1 else None


def _policy(value: str, default: DmarcPolicy) -> DmarcPolicy:
    word = value.strip().lower()
    return cast(DmarcPolicy, word) if word in _POLICIES else default
