"""The catalog's mail routes (core/catalog/mail_routes.json) name the supplier of mail
from its invoice domains, and those domains must vouch for what claims to be its.

Mail goes over SMTP to the running gateway and is read as the scheduler reads it. DNS is a
`StaticResolver`; the signing keys are made for the test run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from core.catalog.entries import load_entries
from core.catalog.mail_routes import MailRoute
from core.extraction.sandbox import shutdown_sandbox
from core.models import DocumentState, Supplier
from core.services.catalog import sync_catalog
from core.services.reading import read_waiting_documents
from mail.authentication import StaticResolver
from mail.pipeline import SPOOFED
from tests.integration.smtp.conftest import Gateway, dkim_key
from tests.integration.smtp.test_mail_trust import REAL_IBAN, edf_invoice, mail, signed, wire

EDF_PEM, EDF_KEY = dkim_key()
#: A domain EDF's invoices come from that only the mail routes (not entries.json) list.
ROUTED = "factures-edf.example"
RESOLVER = StaticResolver(
    {
        "edf.fr": {"TXT": ["v=spf1 ip4:203.0.113.0/24 -all"]},
        "mail._domainkey.edf.fr": {"TXT": [EDF_KEY]},
        "_dmarc.edf.fr": {"TXT": ["v=DMARC1; p=reject"]},
        ROUTED: {"TXT": ["v=spf1 ip4:203.0.113.0/24 -all"]},
        f"mail._domainkey.{ROUTED}": {"TXT": [EDF_KEY]},
        f"_dmarc.{ROUTED}": {"TXT": ["v=DMARC1; p=reject"]},
    }
)


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


async def _edf_from_the_catalog(gateway: Gateway, routes: dict[str, MailRoute] | None) -> int:
    """EDF (particuliers) as the packaged catalog has it, with these mail routes (None:
    the packaged ones); the only supplier, so its domains are its own."""
    async with gateway.db.transaction() as session:
        edf = [entry for entry in load_entries() if entry.key == "edf"]
        await sync_catalog(session=session, entries=edf, routes=routes)
        row = (await session.exec(select(Supplier).where(Supplier.key == "edf"))).one()
    gateway.worker.resolver = RESOLVER
    assert row.id is not None
    return row.id


async def _read(gateway: Gateway) -> None:
    await gateway.worker.drain()
    await read_waiting_documents(db=gateway.db, store=gateway.store)


async def test_a_signed_mail_from_edfs_domain_is_filed_under_edf(gateway: Gateway) -> None:
    edf_id = await _edf_from_the_catalog(gateway, None)
    raw = wire(mail("factures@edf.fr", gateway.address, edf_invoice("E-10", REAL_IBAN)))
    await gateway.send(signed(raw, b"edf.fr", EDF_PEM), sender="factures@edf.fr")
    await _read(gateway)
    [document] = await gateway.documents()
    assert document.supplier_id == edf_id
    assert document.supplier_name == "EDF (particuliers)"
    assert (document.state, document.state_reason) == (DocumentState.INBOX, None)


async def test_a_domain_only_the_mail_routes_list_names_edf_and_must_vouch_for_it(
    gateway: Gateway,
) -> None:
    route = MailRoute("edf", domains=("edf.fr", ROUTED))
    edf_id = await _edf_from_the_catalog(gateway, {"edf": route})
    async with gateway.db.read() as session:
        row = await session.get(Supplier, edf_id)
        assert row is not None
        assert ROUTED in row.domains

    # Unsigned, from where the domain does not send: posing as EDF, so held.
    forged = wire(mail(f"billing@{ROUTED}", gateway.address, edf_invoice("E-11", REAL_IBAN)))
    await gateway.send(forged, sender=f"billing@{ROUTED}")
    # Signed by the domain: EDF's, filed under it.
    real = wire(mail(f"factures@{ROUTED}", gateway.address, edf_invoice("E-12", REAL_IBAN)))
    await gateway.send(signed(real, ROUTED.encode(), EDF_PEM), sender=f"factures@{ROUTED}")
    await _read(gateway)

    held, genuine = await gateway.documents()
    assert (held.state, held.state_reason) == (DocumentState.NEEDS_REVIEW, SPOOFED)
    assert genuine.supplier_id == edf_id
    assert (genuine.state, genuine.state_reason) == (DocumentState.INBOX, None)
