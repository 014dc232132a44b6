"""Sender authentication: supplier mail direct, forwarded, ARC-sealed, edited, and forged.

Messages are signed here with dkimpy and keys made for the test run; their public halves
and every SPF and DMARC record live in a `StaticResolver`. Nothing touches the network.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass

import authres
import dkim
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mail.authentication import (
    ArcOutcome,
    AuthClaim,
    DkimSignature,
    DmarcOutcome,
    DnspythonResolver,
    DnsResolver,
    DnsTemporaryError,
    SenderAuth,
    SpfOutcome,
    StaticResolver,
    authenticate,
    looks_spoofed,
    sender_trust,
    vouched_by,
)
from mail.authentication.dmarc_policy import DmarcRecord, parse_record
from mail.authentication.domains import header_from_domains, organisational_domain

SUPPLIERS = ("edf.fr", "orange.fr")
EDF_IP = "203.0.113.10"
EDF_RELAY_IP = "192.0.2.25"  # EDF's mail provider, reached through include:
FORWARDER_IP = "198.51.100.7"
STRANGER_IP = "198.18.0.66"
RECEIVER = "mx.courier.test"


@dataclass(frozen=True, slots=True)
class Key:
    private_pem: bytes
    public_record: str


def _rsa_key() -> Key:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Key(pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}")


@dataclass(frozen=True, slots=True)
class Keys:
    edf: Key
    forwarder: Key
    lookalike: Key


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(edf=_rsa_key(), forwarder=_rsa_key(), lookalike=_rsa_key())


def _records(keys: Keys) -> dict[str, dict[str, list[str]]]:
    return {
        "edf.fr": {"TXT": ["v=spf1 ip4:203.0.113.0/24 include:_spf.example.net -all"]},
        "_spf.example.net": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
        "_dmarc.edf.fr": {"TXT": ["v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@edf.fr"]},
        "s2024._domainkey.edf.fr": {"TXT": [keys.edf.public_record]},
        "forwarder.example": {"TXT": ["v=spf1 ip4:198.51.100.0/24 -all"]},
        "arc._domainkey.forwarder.example": {"TXT": [keys.forwarder.public_record]},
        "edf-factures.com": {"TXT": ["v=spf1 ip4:198.18.0.0/24 -all"]},
        "_dmarc.edf-factures.com": {"TXT": ["v=DMARC1; p=none"]},
        "k1._domainkey.edf-factures.com": {"TXT": [keys.lookalike.public_record]},
    }


@pytest.fixture
def resolver(keys: Keys) -> StaticResolver:
    return StaticResolver(_records(keys))


def _invoice(
    sender: str = "factures@edf.fr", iban: str = "FR76 3000 4000 0500 0012 3456 789"
) -> bytes:
    return (
        f"From: EDF Factures <{sender}>\r\n"
        "To: compta@boulangerie.fr\r\n"
        "Subject: Votre facture d'electricite\r\n"
        "Date: Mon, 03 Jun 2024 09:00:00 +0200\r\n"
        "Message-ID: <facture-2024-06@edf.fr>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Montant: 182,40 EUR. Prelevement sur le compte {iban}.\r\n"
    ).encode()


def _signed(
    message: bytes, key: Key, domain: bytes = b"edf.fr", selector: bytes = b"s2024"
) -> bytes:
    signature = dkim.sign(
        message,
        selector,
        domain,
        key.private_pem,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    return bytes(signature) + message


async def _auth(
    raw: bytes,
    resolver: DnsResolver,
    *,
    peer_ip: str | None = EDF_IP,
    mail_from: str = "factures@edf.fr",
    dns_timeout: float = 2.0,
) -> SenderAuth:
    return await authenticate(
        raw,
        mail_from=mail_from,
        peer_ip=peer_ip,
        helo="mail.example",
        resolver=resolver,
        receiver=RECEIVER,
        dns_timeout=dns_timeout,
    )


# --- The stories --------------------------------------------------------------------------


@pytest.mark.parametrize("peer_ip", [EDF_IP, EDF_RELAY_IP])
async def test_direct_supplier_mail_is_authenticated(
    keys: Keys, resolver: StaticResolver, peer_ip: str
) -> None:
    auth = await _auth(_signed(_invoice(), keys.edf), resolver, peer_ip=peer_ip)

    assert auth.spf == SpfOutcome("pass", "edf.fr", "mailfrom")
    assert auth.dkim == (DkimSignature("edf.fr", "s2024", "pass"),)
    assert auth.dmarc == DmarcOutcome("pass", "reject")
    assert auth.from_domain == "edf.fr"
    assert auth.aligned_domain == "edf.fr"
    assert auth.arc == ArcOutcome("none")
    assert sender_trust(auth, supplier_domains=SUPPLIERS) == "authenticated"
    assert not looks_spoofed(auth, supplier_domains=SUPPLIERS)
    assert vouched_by(auth) == "dkim"


async def test_forwarded_supplier_mail_still_signed_is_not_spoofed(
    keys: Keys, resolver: StaticResolver
) -> None:
    # The client's mailbox forwards it: new trace headers, the forwarder's IP, same body.
    forwarded = (
        b"Received: from mx.edf.fr by forwarder.example; Mon, 3 Jun 2024 09:00:01 +0200\r\n"
        + _signed(_invoice(), keys.edf)
    )
    auth = await _auth(forwarded, resolver, peer_ip=FORWARDER_IP)

    assert auth.spf.result == "fail"
    assert auth.dkim == (DkimSignature("edf.fr", "s2024", "pass"),)
    assert auth.dmarc.result == "pass"
    assert not looks_spoofed(auth, supplier_domains=SUPPLIERS)
    assert sender_trust(auth, supplier_domains=SUPPLIERS) == "authenticated"


async def test_unsigned_mail_from_the_suppliers_own_servers_is_vouched_by_spf(
    resolver: StaticResolver,
) -> None:
    auth = await _auth(_invoice(), resolver, peer_ip=EDF_IP)

    assert auth.dkim == ()
    assert auth.dmarc.result == "pass"
    assert vouched_by(auth) == "spf"


async def test_iban_changed_after_signing_fails_dkim_and_is_flagged(
    keys: Keys, resolver: StaticResolver
) -> None:
    genuine = _signed(_invoice(), keys.edf)
    tampered = genuine.replace(b"FR76 3000 4000", b"LT12 1000 0111")
    auth = await _auth(tampered, resolver, peer_ip=FORWARDER_IP)

    assert auth.dkim == (DkimSignature("edf.fr", "s2024", "fail"),)
    assert auth.dmarc == DmarcOutcome("fail", "reject")
    assert auth.aligned_domain is None
    assert looks_spoofed(auth, supplier_domains=SUPPLIERS)
    assert sender_trust(auth, supplier_domains=SUPPLIERS) == "unauthenticated"


async def test_forged_supplier_from_a_stranger_is_spoofed(resolver: StaticResolver) -> None:
    auth = await _auth(
        _invoice(), resolver, peer_ip=STRANGER_IP, mail_from="billing@bad-actor.example"
    )

    assert auth.spf == SpfOutcome("none", "bad-actor.example")
    assert auth.dkim == ()
    assert auth.dmarc == DmarcOutcome("fail", "reject")
    assert looks_spoofed(auth, supplier_domains=SUPPLIERS)
    assert sender_trust(auth, supplier_domains=SUPPLIERS) == "unauthenticated"


async def test_a_valid_signature_by_another_domain_does_not_vouch(
    keys: Keys, resolver: StaticResolver
) -> None:
    forged = _signed(_invoice(), keys.lookalike, domain=b"edf-factures.com", selector=b"k1")
    auth = await _auth(forged, resolver, peer_ip=STRANGER_IP, mail_from="x@edf-factures.com")

    assert auth.dkim == (DkimSignature("edf-factures.com", "k1", "pass"),)
    assert auth.spf.result == "pass"
    assert auth.dmarc.result == "fail"
    assert looks_spoofed(auth, supplier_domains=SUPPLIERS)


async def test_a_subdomain_of_a_supplier_claims_that_supplier(resolver: StaticResolver) -> None:
    auth = await _auth(
        _invoice(sender="noreply@clients.edf.fr"), resolver, peer_ip=STRANGER_IP, mail_from=""
    )

    assert auth.from_domain == "clients.edf.fr"
    assert auth.spf == SpfOutcome("none", "mail.example", "helo")
    # Found at the organisation's record: its sp= applies to subdomains.
    assert auth.dmarc == DmarcOutcome("fail", "quarantine")
    assert looks_spoofed(auth, supplier_domains=SUPPLIERS)


async def test_lookalike_domain_is_unknown_not_spoofed(
    keys: Keys, resolver: StaticResolver
) -> None:
    unsigned = _invoice(sender="factures@edf-factures.com")
    signed = _signed(unsigned, keys.lookalike, domain=b"edf-factures.com", selector=b"k1")
    for raw in (unsigned, signed):
        auth = await _auth(raw, resolver, peer_ip=STRANGER_IP, mail_from="x@edf-factures.com")

        assert not looks_spoofed(auth, supplier_domains=SUPPLIERS)
        assert sender_trust(auth, supplier_domains=SUPPLIERS) == "unknown"
    assert auth.dmarc == DmarcOutcome("pass", "none")


async def test_several_from_headers_are_never_vouched_for(
    keys: Keys, resolver: StaticResolver
) -> None:
    # One From that DKIM covers, another that a mail client may show instead.
    raw = b"From: factures@edf.fr\r\n" + _signed(
        _invoice(sender="someone@bad-actor.example"), keys.edf
    )
    auth = await _auth(raw, resolver)

    assert auth.from_domain == "edf.fr"
    assert auth.extra_from_domains == ("bad-actor.example",)
    assert auth.dmarc == DmarcOutcome("permerror")
    assert looks_spoofed(auth, supplier_domains=SUPPLIERS)


# --- ARC ----------------------------------------------------------------------------------


def _through_mailing_list(keys: Keys, original: bytes) -> bytes:
    """What a list at forwarder.example does: check, rewrite subject and body, seal."""
    checked = (
        b"Authentication-Results: forwarder.example; spf=pass smtp.mailfrom=edf.fr;"
        b" dkim=pass header.d=edf.fr header.s=s2024; dmarc=pass header.from=edf.fr\r\n" + original
    )
    edited = checked.replace(b"Subject: ", b"Subject: [compta] ").replace(
        b"789.\r\n", b"789.\r\n-- \r\nListe compta\r\n"
    )
    seal = dkim.arc_sign(
        edited,
        b"arc",
        b"forwarder.example",
        keys.forwarder.private_pem,
        b"forwarder.example",
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    return b"".join(seal) + edited


async def test_arc_sealed_forward_is_vouched_for_by_a_trusted_sealer(
    keys: Keys, resolver: StaticResolver
) -> None:
    raw = _through_mailing_list(keys, _signed(_invoice(), keys.edf))
    auth = await _auth(raw, resolver, peer_ip=FORWARDER_IP, mail_from="bounce@forwarder.example")

    assert auth.dkim == (DkimSignature("edf.fr", "s2024", "fail"),)
    assert auth.spf == SpfOutcome("pass", "forwarder.example")
    assert auth.dmarc.result == "fail"
    assert auth.arc.result == "pass"
    assert auth.arc.sealers == ("forwarder.example",)
    assert auth.arc.authserv_id == "forwarder.example"
    assert AuthClaim("dkim", "pass", (("header.d", "edf.fr"), ("header.s", "s2024"))) in (
        auth.arc.claims
    )
    trusted = ("forwarder.example",)
    assert vouched_by(auth, trusted_sealers=trusted) == "arc"
    assert not looks_spoofed(auth, supplier_domains=SUPPLIERS, trusted_sealers=trusted)
    assert sender_trust(auth, supplier_domains=SUPPLIERS, trusted_sealers=trusted) == (
        "authenticated"
    )
    # Anyone can seal: an unlisted sealer's word counts for nothing.
    assert looks_spoofed(auth, supplier_domains=SUPPLIERS)
    assert looks_spoofed(auth, supplier_domains=SUPPLIERS, trusted_sealers=("other.example",))


async def test_arc_chain_edited_after_sealing_fails(keys: Keys, resolver: StaticResolver) -> None:
    raw = _through_mailing_list(keys, _signed(_invoice(), keys.edf))
    auth = await _auth(raw.replace(b"182,40", b"1824,0"), resolver, peer_ip=FORWARDER_IP)

    assert auth.arc.result == "fail"
    assert looks_spoofed(auth, supplier_domains=SUPPLIERS, trusted_sealers=("forwarder.example",))


# --- Malformed input and DNS trouble ------------------------------------------------------

_GARBAGE = [
    b"",
    b"\x00\xff\xfe not a message at all",
    b"no colon header line\r\n\r\nbody",
    b"From: <>\r\n\r\nbody",
    b"From: =?utf-8?q?=E9?= <@@>\r\nFrom:\r\n\r\n",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=edf.fr; s=s2024; b=!!!; bh=???; h=from\r\n"
    b"From: factures@edf.fr\r\n\r\nbody",
    b"DKIM-Signature: ;;;===\r\nFrom: factures@edf.fr\r\n\r\nbody",
    b"ARC-Seal: i=1; cv=none; a=rsa-sha256; d=x.example; s=a; b=Zm9v\r\n"
    b"ARC-Seal: i=99999; garbage\r\nFrom: factures@edf.fr\r\n\r\nbody",
    b"From: factures@edf.fr\r\nFrom: factures@edf.fr\r\n" + b"X-Long: " + b"a" * 100_000 + b"\r\n",
    "From: Électricité <factures@édf.fr>\r\n\r\nbody".encode(),
]


@pytest.mark.parametrize("raw", _GARBAGE)
async def test_malformed_messages_never_raise(raw: bytes, resolver: StaticResolver) -> None:
    auth = await _auth(raw, resolver, peer_ip="not an ip", mail_from="<<>>")

    assert auth.dmarc.result in {"pass", "fail", "none", "permerror"}
    assert all(sig.result in {"fail", "permerror", "neutral"} for sig in auth.dkim)
    assert auth.as_header().startswith(RECEIVER)
    assert SenderAuth.from_json(json.loads(json.dumps(auth.to_json()))) == auth


async def test_garbage_signature_is_permerror(resolver: StaticResolver) -> None:
    auth = await _auth(_GARBAGE[5], resolver)

    assert auth.dkim == (DkimSignature("edf.fr", "s2024", "permerror"),)


async def test_signature_whose_key_is_missing_is_permerror(
    keys: Keys, resolver: StaticResolver
) -> None:
    raw = _signed(_invoice(), keys.edf, selector=b"gone")

    auth = await _auth(raw, resolver, peer_ip=STRANGER_IP)

    assert auth.dkim == (DkimSignature("edf.fr", "gone", "permerror"),)


async def test_ed25519_signature_never_raises(keys: Keys) -> None:
    # RFC 8463 keys need PyNaCl in dkimpy; with or without it, no exception and no pass.
    public = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    raw = _signed(_invoice(), keys.edf, selector=b"ed").replace(
        b"a=rsa-sha256", b"a=ed25519-sha256"
    )
    records = _records(keys) | {
        "ed._domainkey.edf.fr": {
            "TXT": [f"v=DKIM1; k=ed25519; p={base64.b64encode(public).decode()}"]
        }
    }
    auth = await _auth(raw, StaticResolver(records), peer_ip=STRANGER_IP)

    assert auth.dkim[0].result in {"fail", "permerror"}


class _HangingResolver:
    async def txt(self, name: str) -> list[str]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def a(self, name: str) -> list[str]:
        return await self.txt(name)

    async def aaaa(self, name: str) -> list[str]:
        return await self.txt(name)

    async def mx(self, name: str) -> list[tuple[int, str]]:
        await self.txt(name)
        return []


class _BrokenResolver(_HangingResolver):
    async def txt(self, name: str) -> list[str]:
        raise ValueError("bug in the adapter")


async def test_hanging_resolver_gives_temperror_within_the_timeout(keys: Keys) -> None:
    raw = _through_mailing_list(keys, _signed(_invoice(), keys.edf))
    started = time.monotonic()

    auth = await _auth(raw, _HangingResolver(), dns_timeout=0.3)

    assert time.monotonic() - started < 10.0  # cut off: the resolver itself would hang forever
    assert auth.spf.result == "temperror"
    assert auth.dkim == (DkimSignature("edf.fr", "s2024", "temperror"),)
    assert auth.dmarc.result == "temperror"
    assert auth.arc.result == "fail"
    # Not proven either way: "unknown", yet still worth a look.
    assert sender_trust(auth, supplier_domains=SUPPLIERS) == "unknown"
    assert looks_spoofed(auth, supplier_domains=SUPPLIERS)


async def test_a_resolver_that_raises_gives_temperror(keys: Keys) -> None:
    auth = await _auth(_signed(_invoice(), keys.edf), _BrokenResolver())

    assert auth.spf.result == "temperror"
    assert auth.dkim[0].result == "temperror"
    assert auth.dmarc.result == "temperror"


async def test_one_failing_zone_only_affects_its_own_check(keys: Keys) -> None:
    resolver = StaticResolver(_records(keys), failing=["s2024._domainkey.edf.fr"])

    auth = await _auth(_signed(_invoice(), keys.edf), resolver)

    assert auth.dkim[0].result == "temperror"
    assert auth.dmarc == DmarcOutcome("pass", "reject")
    assert vouched_by(auth) == "spf"


# --- SPF details through the injected resolver --------------------------------------------


@pytest.mark.parametrize(
    ("record", "peer_ip", "expected"),
    [
        ("v=spf1 ip4:203.0.113.0/24 ~all", STRANGER_IP, "softfail"),
        ("v=spf1 ?all", STRANGER_IP, "neutral"),
        ("v=spf1 mx -all", "203.0.113.80", "pass"),
        ("v=spf1 a:out.edf.fr -all", "2001:db8::25", "pass"),
        ("v=spf1 ip6:2001:db8::/32 -all", "2001:db8::1", "pass"),
        ("v=spf1 redirect=_spf.example.net", EDF_RELAY_IP, "pass"),
        ("v=spf1 exists:%{i}.allow.edf.fr -all", "203.0.113.9", "pass"),
        (
            "v=spf1 " + " ".join(f"include:i{n}.edf.fr" for n in range(11)) + " -all",
            EDF_IP,
            "permerror",
        ),
        ("v=spf1 a:n1.edf.fr a:n2.edf.fr a:n3.edf.fr -all", EDF_IP, "permerror"),
        ("v=spf1 bogus:thing -all", EDF_IP, "permerror"),
    ],
)
async def test_spf_mechanisms(record: str, peer_ip: str, expected: str) -> None:
    resolver = StaticResolver(
        {
            "edf.fr": {"TXT": [record], "MX": ["10 mx1.edf.fr", "20 mx2.edf.fr"]},
            "mx2.edf.fr": {"A": ["203.0.113.80"]},
            "out.edf.fr": {"AAAA": ["2001:db8::25"]},
            "_spf.example.net": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
            "203.0.113.9.allow.edf.fr": {"A": ["127.0.0.2"]},
            **{f"i{n}.edf.fr": {"TXT": ["v=spf1 ?all"]} for n in range(11)},
        }
    )

    auth = await _auth(_invoice(), resolver, peer_ip=peer_ip)

    assert auth.spf.result == expected


async def test_no_peer_address_means_no_spf(resolver: StaticResolver) -> None:
    auth = await _auth(_invoice(), resolver, peer_ip=None)

    assert auth.spf == SpfOutcome("none", "edf.fr")


# --- Rendering and storage ----------------------------------------------------------------


async def test_header_and_json(keys: Keys, resolver: StaticResolver) -> None:
    raw = _through_mailing_list(keys, _signed(_invoice(), keys.edf))
    auth = await _auth(raw, resolver, peer_ip=FORWARDER_IP, mail_from="bounce@forwarder.example")

    header = auth.as_header()
    assert header == (
        "mx.courier.test; spf=pass smtp.mailfrom=forwarder.example;"
        " dkim=fail header.d=edf.fr header.s=s2024; arc=pass;"
        " dmarc=fail header.from=edf.fr policy.dmarc=reject"
    )
    parsed = authres.AuthenticationResultsHeader.parse_value(header)
    assert [(r.method, r.result) for r in parsed.results] == [
        ("spf", "pass"),
        ("dkim", "fail"),
        ("arc", "pass"),
        ("dmarc", "fail"),
    ]
    stored = json.loads(json.dumps(auth.to_json()))
    assert SenderAuth.from_json(stored) == auth
    with pytest.raises(ValueError, match="unexpected result"):
        SenderAuth.from_json({**stored, "dmarc": {"result": "great", "policy": None}})


def test_header_of_a_message_with_nothing_to_check() -> None:
    auth = SenderAuth(
        receiver=RECEIVER,
        from_domain="",
        spf=SpfOutcome("none", ""),
        dkim=(),
        arc=ArcOutcome("none"),
        dmarc=DmarcOutcome("permerror"),
        aligned_domain=None,
    )
    assert auth.as_header() == "mx.courier.test; spf=none; dkim=none; arc=none; dmarc=permerror"


async def test_hostile_selector_is_not_rendered(keys: Keys, resolver: StaticResolver) -> None:
    raw = _signed(_invoice(), keys.edf).replace(b"s=s2024", b's=x"; dmarc=pass', 1)

    auth = await _auth(raw, resolver, peer_ip=STRANGER_IP)

    assert auth.dkim[0].selector == ""
    assert auth.as_header().count("; dmarc=") == 1
    assert '"' not in auth.as_header()


# --- Pieces -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v=DMARC1; p=reject", DmarcRecord("reject", "reject")),
        ("v = DMARC1;p=quarantine;sp=none;adkim=s", DmarcRecord("quarantine", "none", True)),
        ("v=DMARC1; p=bogus; aspf=s", DmarcRecord("none", "none", strict_spf=True)),
        ("v=DMARC1", DmarcRecord("none", "none")),
        ("p=reject; v=DMARC1", None),
        ("v=spf1 -all", None),
        ("", None),
    ],
)
def test_dmarc_record(text: str, expected: DmarcRecord | None) -> None:
    assert parse_record(text) == expected


@pytest.mark.parametrize(
    ("domain", "organisation"),
    [
        ("factures.edf.fr", "edf.fr"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("impots.gouv.fr", "impots.gouv.fr"),
        ("shop.example.com.au", "example.com.au"),
        ("co.uk", "co.uk"),
    ],
)
def test_organisational_domain(domain: str, organisation: str) -> None:
    assert organisational_domain(domain) == organisation


def test_header_from_domains() -> None:
    assert header_from_domains(b"From: A <a@EDF.FR.>\r\n\r\n") == ("edf.fr",)
    assert header_from_domains(b"From: a@x.example, b@y.example\r\n\r\n") == (
        "x.example",
        "y.example",
    )
    assert header_from_domains(b"From: nobody\r\n\r\n") == ("",)
    assert header_from_domains(b"Subject: none\r\n\r\n") == ()


async def test_static_resolver() -> None:
    resolver = StaticResolver(
        {"EDF.fr.": {"mx": ["10 mx1.edf.fr.", "20 mx2.edf.fr"]}}, failing=["down.example"]
    )

    assert await resolver.mx("edf.fr") == [(10, "mx1.edf.fr"), (20, "mx2.edf.fr")]
    assert await resolver.txt("edf.fr") == []
    with pytest.raises(DnsTemporaryError):
        await resolver.a("down.example")


def _answer(name: str, rdtype: str, *values: str) -> dns.resolver.Answer:
    qname, qtype = dns.name.from_text(name), dns.rdatatype.from_text(rdtype)
    response = dns.message.make_response(dns.message.make_query(qname, qtype))
    assert isinstance(response, dns.message.QueryMessage)
    # find_rrset(create=True) also indexes the rrset, which Answer's lookup relies on.
    rrset = response.find_rrset(response.answer, qname, dns.rdataclass.IN, qtype, create=True)
    for value in values:
        rrset.add(dns.rdata.from_text(dns.rdataclass.IN, qtype, value), ttl=300)
    return dns.resolver.Answer(qname, qtype, dns.rdataclass.IN, response)


async def test_dnspython_adapter_maps_answers_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {
        ("edf.fr", "TXT"): _answer("edf.fr.", "TXT", '"v=spf1 " "-all"'),
        ("edf.fr", "MX"): _answer("edf.fr.", "MX", "10 mx1.edf.fr."),
        ("mx1.edf.fr", "A"): _answer("mx1.edf.fr.", "A", "203.0.113.5"),
        ("mx1.edf.fr", "AAAA"): _answer("mx1.edf.fr.", "AAAA", "2001:db8::5"),
    }
    failures: dict[str, type[Exception]] = {
        "missing.example": dns.resolver.NXDOMAIN,
        "slow.example": dns.exception.Timeout,
        "broken.example": dns.resolver.NoNameservers,
    }
    seen: list[float | None] = []

    async def resolve(name: str, rdtype: str, **options: object) -> dns.resolver.Answer:
        assert options["search"] is False
        seen.append(options["lifetime"])  # type: ignore[arg-type]
        if name in failures:
            raise failures[name]
        return answers[(name, rdtype)]

    inner = dns.asyncresolver.Resolver(configure=False)
    monkeypatch.setattr(inner, "resolve", resolve)
    adapter = DnspythonResolver(inner, timeout=1.5)

    assert await adapter.txt("edf.fr") == ["v=spf1 -all"]
    assert await adapter.mx("edf.fr") == [(10, "mx1.edf.fr")]
    assert await adapter.a("mx1.edf.fr") == ["203.0.113.5"]
    assert await adapter.aaaa("mx1.edf.fr") == ["2001:db8::5"]
    assert await adapter.txt("missing.example") == []
    for name in ("slow.example", "broken.example"):
        with pytest.raises(DnsTemporaryError):
            await adapter.txt(name)
    assert set(seen) == {1.5}
