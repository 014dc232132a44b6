"""Mail posing as a known supplier is not trusted, nor are its bank details (issue #13, 2).

Every attack is sent over SMTP to the running gateway, then the documents are read as
the scheduler reads them. DNS is a `StaticResolver`; the suppliers' signing keys are made
for the test run. Our SMTP client connects from 127.0.0.1, which no supplier's SPF lists.
"""

from __future__ import annotations

import dataclasses
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage

import dkim
import pytest
from sqlmodel import select

from core.errors import NotAllowed
from core.extraction.sandbox import shutdown_sandbox
from core.models import DocumentState, Member, Role, Supplier, SupplierProfile
from core.services.members import set_mail_address
from core.services.reading import read_waiting_documents
from core.services.review import YES, answer_question, ask_next
from mail.authentication import StaticResolver
from mail.pipeline import SPOOFED
from tests.integration.smtp.conftest import Gateway, dkim_key
from tests.unit.extraction.corpus import BAKERY, Sample, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf

REAL_IBAN = "FR7630006000011234567890189"
FORGED_IBAN = "FR1420041010050500013M02606"
EDF_PEM, EDF_KEY = dkim_key()
ORANGE_PEM, ORANGE_KEY = dkim_key()
LOOKALIKE_PEM, LOOKALIKE_KEY = dkim_key()
MEMBER_ADDRESS = "marie@boulangerie-dupont.example"
RESOLVER = StaticResolver(
    {
        # The real suppliers publish SPF, keys and DMARC, as EDF and Orange do.
        "edf.fr": {"TXT": ["v=spf1 ip4:203.0.113.0/24 -all"]},
        "mail._domainkey.edf.fr": {"TXT": [EDF_KEY]},
        "_dmarc.edf.fr": {"TXT": ["v=DMARC1; p=reject"]},
        "orange.fr": {"TXT": ["v=spf1 ip4:203.0.113.0/24 -all"]},
        "mail._domainkey.orange.fr": {"TXT": [ORANGE_KEY]},
        "_dmarc.orange.fr": {"TXT": ["v=DMARC1; p=reject"]},
        # The forger's own domain authenticates perfectly: it is just not Scaleway's.
        "scaleway-invoices.example": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
        "mail._domainkey.scaleway-invoices.example": {"TXT": [LOOKALIKE_KEY]},
        # The bakery's own mail domain sends from where our client connects.
        "boulangerie-dupont.example": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
    }
)


def _vat(siren: str) -> str:
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


def _invoice(name: str, siren: str, number: str, iban: str) -> bytes:
    sample: Sample = dataclasses.replace(
        BAKERY, seller_name=name, seller_siren=siren, seller_vat=_vat(siren), number=number
    )
    return build_pdf(visible_lines(dataclasses.replace(sample, iban=iban)))


def orange_invoice(number: str, iban: str) -> bytes:
    return _invoice("Orange SA", "380129866", number, iban)


def scaleway_invoice(number: str, iban: str) -> bytes:
    return _invoice("Scaleway SAS", "433115904", number, iban)


def edf_invoice(number: str, iban: str) -> bytes:
    return _invoice("EDF SA", "552081317", number, iban)


def mail(sender: str, to: str, pdf: bytes, *, subject: str = "Votre facture") -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash((sender, pdf)))}@{sender.rpartition('@')[2]}>"
    message.set_content("Veuillez trouver votre facture ci-jointe.")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="facture.pdf")
    return message


def wire(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def signed(raw: bytes, domain: bytes, pem: bytes) -> bytes:
    headers = [b"from", b"to", b"subject", b"message-id"]
    return bytes(dkim.sign(raw, b"mail", domain, pem, include_headers=headers)) + raw


def forwarded(sender: str, to: str, original: bytes) -> bytes:
    """A member's "forward as attachment": the supplier's mail, bytes untouched, inside."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Fwd: Votre facture"
    message.set_content("Pour la compta.")
    message.add_attachment(email.message_from_bytes(original, policy=email.policy.default))
    return wire(message)


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


@pytest.fixture
async def catalog(gateway: Gateway) -> Gateway:
    """The gateway with part of the real catalog: EDF's domain is shared by two entries."""
    async with gateway.db.transaction() as session:
        session.add_all(
            [
                Supplier(
                    key="edf-entreprises",
                    name="EDF Entreprises",
                    portal_url="https://entreprises.edf.fr",
                    domains=["edf.fr"],
                ),
                Supplier(
                    key="orange",
                    name="Orange",
                    portal_url="https://orange.fr",
                    domains=["orange.fr"],
                ),
                Supplier(
                    key="scaleway",
                    name="Scaleway",
                    portal_url="https://console.scaleway.com",
                    domains=["scaleway.com"],
                ),
            ]
        )
    gateway.worker.resolver = RESOLVER
    return gateway


async def _read(gateway: Gateway) -> None:
    await gateway.worker.drain()
    await read_waiting_documents(db=gateway.db, store=gateway.store)


async def _profile(gateway: Gateway, name: str) -> SupplierProfile:
    async with gateway.db.read() as session:
        profiles = (await session.exec(select(SupplierProfile))).all()
    [profile] = [p for p in profiles if p.name == name]
    return profile


async def _member(gateway: Gateway, role: Role, address: str | None = None) -> Member:
    async with gateway.db.transaction() as session:
        assert gateway.workspace.id is not None
        member = Member(
            workspace_id=gateway.workspace.id,
            telegram_user_id=7000 + len(role) + len(address or ""),
            display_name=f"Marie ({role})",
            role=role,
        )
        session.add(member)
        await session.flush()
        if address is not None:
            await set_mail_address(session=session, member=member, address=address)
    return member


async def test_an_unsigned_mail_from_a_domain_two_suppliers_share_is_held(
    catalog: Gateway,
) -> None:
    # edf.fr is EDF's and EDF Entreprises': the forger needs no signature to pose as both.
    await catalog.send(
        wire(mail("factures@edf.fr", catalog.address, edf_invoice("E-1", REAL_IBAN)))
    )
    await catalog.worker.drain()
    [document] = await catalog.documents()
    assert (document.state, document.state_reason) == (DocumentState.NEEDS_REVIEW, SPOOFED)
    [message] = await catalog.inbound()
    assert message.outcome["auth"]["dkim"] == []
    assert message.outcome["auth"]["spf"]["result"] == "fail"


async def test_a_lookalike_domain_naming_scaleway_on_the_page_is_held(catalog: Gateway) -> None:
    raw = wire(
        mail(
            "billing@scaleway-invoices.example",
            catalog.address,
            scaleway_invoice("SCW-1", FORGED_IBAN),
        )
    )
    await catalog.send(
        signed(raw, b"scaleway-invoices.example", LOOKALIKE_PEM),
        sender="billing@scaleway-invoices.example",
    )
    await _read(catalog)
    [document] = await catalog.documents()
    # Scaleway's own VAT number, printed on the page, names it: page evidence, which anyone
    # can print. The sender's domain must still vouch for the supplier it names.
    assert document.fields["_supplier"]["matched_by"] == "vat"
    assert (document.state, document.state_reason) == (DocumentState.NEEDS_REVIEW, SPOOFED)
    # Its account is not Scaleway's for the invoices to come.
    assert (await _profile(catalog, "Scaleway")).ibans == []


async def test_a_forgers_first_iban_does_not_become_the_suppliers(catalog: Gateway) -> None:
    forged = wire(mail("factures@orange.fr", catalog.address, orange_invoice("O-1", FORGED_IBAN)))
    await catalog.send(forged, sender="factures@orange.fr")
    await _read(catalog)
    real = wire(mail("factures@orange.fr", catalog.address, orange_invoice("O-2", REAL_IBAN)))
    await catalog.send(signed(real, b"orange.fr", ORANGE_PEM), sender="factures@orange.fr")
    await _read(catalog)

    held, genuine = await catalog.documents()
    assert (genuine.state, genuine.state_reason) == (DocumentState.INBOX, None)
    assert (await _profile(catalog, "Orange")).ibans == [REAL_IBAN]
    assert (held.state, held.state_reason) == (DocumentState.NEEDS_REVIEW, SPOOFED)
    assert held.fields["_confirm"] == ["sender", "iban"]


async def test_a_supplier_signed_original_forwarded_by_anyone_is_trusted(
    catalog: Gateway,
) -> None:
    original = signed(
        wire(mail("factures@edf.fr", "compta@gmail.example", edf_invoice("E-2", REAL_IBAN))),
        b"edf.fr",
        EDF_PEM,
    )
    await catalog.send(forwarded("compta@gmail.example", catalog.address, original))
    await _read(catalog)
    [document] = await catalog.documents()
    assert document.fields["_vouched"] == {"by": "forwarded_original", "domain": "edf.fr"}
    assert (document.state, document.state_reason) == (DocumentState.INBOX, None)
    assert (await _profile(catalog, "EDF")).ibans == [REAL_IBAN]


async def test_an_unsigned_original_forwarded_by_a_stranger_is_held(catalog: Gateway) -> None:
    original = wire(mail("factures@edf.fr", "x@gmail.example", edf_invoice("E-3", FORGED_IBAN)))
    await catalog.send(forwarded("x@gmail.example", catalog.address, original))
    await _read(catalog)
    [document] = await catalog.documents()
    assert (document.state, document.state_reason) == (DocumentState.NEEDS_REVIEW, SPOOFED)
    assert (await _profile(catalog, "EDF")).ibans == []


async def test_a_member_vouches_for_what_they_forward_from_their_own_address(
    catalog: Gateway,
) -> None:
    await _member(catalog, Role.OWNER, "Marie@Boulangerie-Dupont.example")
    raw = wire(mail(MEMBER_ADDRESS, catalog.address, orange_invoice("O-3", REAL_IBAN)))
    await catalog.send(raw, sender=MEMBER_ADDRESS)  # SPF passes for the bakery's domain
    await _read(catalog)
    [document] = await catalog.documents()
    assert document.fields["_vouched"]["by"] == "member_forward"
    assert (document.state, document.state_reason) == (DocumentState.INBOX, None)
    assert (await _profile(catalog, "Orange")).ibans == [REAL_IBAN]


async def test_a_forger_posing_as_a_member_is_not_vouched_for(catalog: Gateway) -> None:
    await _member(catalog, Role.OWNER, MEMBER_ADDRESS)
    raw = wire(mail(MEMBER_ADDRESS, catalog.address, orange_invoice("O-4", FORGED_IBAN)))
    await catalog.send(raw, sender="bounce@attacker.example")
    await _read(catalog)
    [document] = await catalog.documents()
    assert (document.state, document.state_reason) == (DocumentState.NEEDS_REVIEW, SPOOFED)
    assert (await _profile(catalog, "Orange")).ibans == []


async def test_only_a_manager_makes_a_held_account_the_suppliers(catalog: Gateway) -> None:
    member = await _member(catalog, Role.MEMBER)
    owner = await _member(catalog, Role.OWNER)
    raw = wire(mail("factures@orange.fr", catalog.address, orange_invoice("O-5", FORGED_IBAN)))
    await catalog.send(raw, sender="factures@orange.fr")
    await _read(catalog)
    [document] = await catalog.documents()
    assert document.id is not None
    assert catalog.workspace.id is not None
    ids = {"workspace_id": catalog.workspace.id, "document_id": document.id}

    async with catalog.db.transaction() as session:
        with pytest.raises(NotAllowed):
            await answer_question(session=session, field="iban", answer=YES, by=member, **ids)
    async with catalog.db.transaction() as session:
        question = await ask_next(session=session, **ids)
        assert question is not None
        assert question.field == "sender"
        upcoming = await answer_question(
            session=session, field="sender", answer=YES, by=owner, **ids
        )
        # Vouching for the sender is not vouching for the account: it is asked next.
        assert upcoming is not None
        assert upcoming.field == "iban"
        assert upcoming.read == FORGED_IBAN
        await answer_question(session=session, field="iban", answer=YES, by=owner, **ids)
    assert (await _profile(catalog, "Orange")).ibans == [FORGED_IBAN]
    [confirmed] = await catalog.documents()
    assert confirmed.state == DocumentState.INBOX
    assert confirmed.fields["_confirmed_by"] == {"sender": owner.id, "iban": owner.id}
