"""On real mail, authentication reads DKIM and ARC exactly as dkimpy does, though it
only hands dkimpy the messages whose headers carry a signature or a seal."""

from __future__ import annotations

import asyncio
import email

from mail.authentication import StaticResolver, authenticate
from mail.authentication.arc_chain import verify_chain
from mail.authentication.bridge import BlockingLookups, BoundedResolver
from mail.authentication.results import NO_ARC
from mail.authentication.signatures import verify_signatures
from tests.corpora import real_mail

# Every key and record missing: each signature then fails the same way on both paths.
RESOLVER = StaticResolver({})


async def test_every_real_message_gets_dkimpys_own_verdicts() -> None:
    signed = unreadable = 0
    for path in real_mail():
        raw = path.read_bytes()
        lookups = BlockingLookups(BoundedResolver(RESOLVER, timeout=5), asyncio.get_running_loop())
        signatures = await asyncio.to_thread(verify_signatures, raw, lookups)
        chain = await asyncio.to_thread(verify_chain, raw, lookups)
        auth = await authenticate(
            raw, mail_from="", peer_ip=None, helo=None, resolver=RESOLVER, receiver="courier"
        )
        # dkimpy calls the chain "fail" when it cannot parse the headers at all, seal or
        # none; a message without a seal has no chain, whatever its headers look like.
        sealed = any(name.lower().startswith("arc-") for name in email.message_from_bytes(raw))
        assert (auth.dkim, auth.arc) == (signatures, chain if sealed else NO_ARC), path.name
        signed += bool(signatures)
        unreadable += chain.result == "fail" and not sealed
    assert signed >= 10  # the corpus holds signed mail, so both paths were taken
    assert unreadable >= 1
