"""`authenticate`: SPF, DKIM, ARC and DMARC for one message the gateway has accepted.

It runs after the SMTP answer and only informs: nothing here can refuse a message. The
three checks run at once (pyspf and dkimpy in worker threads, DMARC's lookup on the loop)
and share one DNS deadline, so a dead resolver costs at most `dns_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import functools
import re
from concurrent.futures import ThreadPoolExecutor

from mail.authentication.arc_chain import verify_chain
from mail.authentication.bridge import BlockingLookups, BoundedResolver
from mail.authentication.dmarc_policy import evaluate, find_policy
from mail.authentication.domains import header_from_domains
from mail.authentication.resolver import DnsResolver
from mail.authentication.results import NO_ARC, ArcOutcome, DkimSignature, SenderAuth
from mail.authentication.signatures import verify_signatures
from mail.authentication.spf_policy import check_spf
from mail.parse.headers import header_bytes

DEFAULT_DNS_TIMEOUT = 5.0
#: pyspf's and dkimpy's threads, which spend their time waiting on the DNS. Kept apart
#: from the loop's default threads, which write the gateway's files: a batch of mail
#: waiting on a slow zone must never hold up a 250.
_CHECKS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mail-auth")
#: The header names dkimpy looks for, matched more loosely than it does (any case, blanks
#: before the colon), so that no header it would read is ever missed here.
_DKIM_SIGNED = re.compile(rb"(?im)^dkim-signature[ \t]*:")
_ARC_SEALED = re.compile(rb"(?im)^arc-(?:seal|message-signature|authentication-results)[ \t]*:")


async def authenticate(
    raw: bytes,
    *,
    mail_from: str,
    peer_ip: str | None,
    helo: str | None,
    resolver: DnsResolver,
    receiver: str,
    dns_timeout: float = DEFAULT_DNS_TIMEOUT,
) -> SenderAuth:
    """Authenticate the sender of `raw` as received from `peer_ip`. Never raises.

    `mail_from` is the SMTP envelope sender ("" for a bounce), `receiver` the authserv-id
    that the Authentication-Results header will name. Every DNS lookup ends by
    `dns_timeout` seconds from now; one still pending then counts as a temporary error.
    """
    bounded = BoundedResolver(resolver, timeout=dns_timeout)
    lookups = BlockingLookups(bounded, asyncio.get_running_loop())
    from_domains = header_from_domains(raw)
    # Several From domains get no policy lookup: DMARC cannot pass them anyway.
    policy_domain = from_domains[0] if len(from_domains) == 1 else ""
    spf_check = functools.partial(
        check_spf, lookups, peer_ip=peer_ip, mail_from=mail_from, helo=helo, receiver=receiver
    )
    spf, (signatures, chain), policy = await asyncio.gather(
        asyncio.get_running_loop().run_in_executor(_CHECKS, spf_check),
        _signatures_and_chain(raw, lookups),
        find_policy(policy_domain, bounded),
    )
    dmarc, aligned_domain = evaluate(from_domains, policy, spf=spf, dkim=signatures)
    return SenderAuth(
        receiver=receiver,
        from_domain=from_domains[0] if from_domains else "",
        spf=spf,
        dkim=signatures,
        arc=chain,
        dmarc=dmarc,
        aligned_domain=aligned_domain,
        extra_from_domains=from_domains[1:],
    )


async def _signatures_and_chain(
    raw: bytes, lookups: BlockingLookups
) -> tuple[tuple[DkimSignature, ...], ArcOutcome]:
    """DKIM and ARC, skipped when the headers carry neither: dkimpy splits the whole
    message into lines before it looks (a 100 KB attachment's 1,800, twice), which is
    most of what authenticating unsigned mail costs."""
    head = header_bytes(raw)
    signed = head is None or _DKIM_SIGNED.search(head) is not None
    sealed = head is None or _ARC_SEALED.search(head) is not None
    if not (signed or sealed):
        return (), NO_ARC

    def verify() -> tuple[tuple[DkimSignature, ...], ArcOutcome]:
        # One thread for both: they parse the same message, and threads are a shared pool.
        return (
            verify_signatures(raw, lookups) if signed else (),
            verify_chain(raw, lookups) if sealed else NO_ARC,
        )

    return await asyncio.get_running_loop().run_in_executor(_CHECKS, verify)
