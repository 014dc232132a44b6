"""What sender authentication found for one message, as values to store and show.

`SenderAuth` gathers SPF, every DKIM signature, the ARC chain and DMARC. It renders as an
RFC 8601 Authentication-Results value (`as_header`) and round-trips through JSON
(`to_json` / `from_json`) so that trust can be judged again when the supplier list changes.
Every string here is either one of the listed result words or a normalised domain or
selector, so nothing a sender wrote can reach the rendered header unchecked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast, get_args

import authres
import authres.arc
import authres.dmarc

SpfResult = Literal["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"]
DkimResult = Literal["pass", "fail", "neutral", "none", "temperror", "permerror"]
ArcResult = Literal["pass", "fail", "none"]
DmarcResult = Literal["pass", "fail", "none", "temperror", "permerror"]
DmarcPolicy = Literal["none", "quarantine", "reject"]
SpfIdentity = Literal["mailfrom", "helo"]

_SELECTOR = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")


def safe_selector(value: str) -> str:
    """A DKIM selector fit to show, or "" (it is the sender's text, shown in our header)."""
    return value if _SELECTOR.match(value) else ""


@dataclass(frozen=True, slots=True)
class SpfOutcome:
    """SPF for the envelope sender's domain, or the HELO name for a null sender."""

    result: SpfResult
    domain: str
    identity: SpfIdentity = "mailfrom"


@dataclass(frozen=True, slots=True)
class DkimSignature:
    """One DKIM-Signature header: who signed (d=), with which key (s=), and the verdict."""

    domain: str
    selector: str
    result: DkimResult


@dataclass(frozen=True, slots=True)
class AuthClaim:
    """One result that an earlier hop recorded, such as `dkim=pass header.d=edf.fr`."""

    method: str
    result: str
    properties: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        return next((value for key, value in self.properties if key == name), None)


@dataclass(frozen=True, slots=True)
class ArcOutcome:
    """The ARC chain's validation, who sealed it, and what its first hop saw."""

    result: ArcResult
    sealers: tuple[str, ...] = ()  # d= of each ARC-Seal, oldest (i=1) first
    authserv_id: str = ""  # of the oldest ARC-Authentication-Results
    claims: tuple[AuthClaim, ...] = ()  # the oldest hop's results: the sender as it arrived


@dataclass(frozen=True, slots=True)
class DmarcOutcome:
    """DMARC for the From domain; `policy` is the one that applies, None without a record."""

    result: DmarcResult
    policy: DmarcPolicy | None = None


NO_ARC = ArcOutcome("none")


@dataclass(frozen=True, slots=True)
class SenderAuth:
    """Sender authentication of one message, as computed by `receiver` (the authserv-id)."""

    receiver: str
    from_domain: str
    spf: SpfOutcome
    dkim: tuple[DkimSignature, ...]
    arc: ArcOutcome
    dmarc: DmarcOutcome
    # The identifier (DKIM d= or SPF domain) that passed in alignment with From, if any.
    aligned_domain: str | None
    # Further From domains: several From headers or authors, a known spoofing trick.
    extra_from_domains: tuple[str, ...] = ()

    def as_header(self) -> str:
        """The value of an RFC 8601 Authentication-Results header (without the name)."""
        spf = authres.SPFAuthenticationResult(
            result=self.spf.result,
            smtp_mailfrom=(self.spf.domain or None) if self.spf.identity == "mailfrom" else None,
            smtp_helo=(self.spf.domain or None) if self.spf.identity == "helo" else None,
        )
        results: list[object] = [spf]
        results += [
            authres.DKIMAuthenticationResult(
                result=sig.result, header_d=sig.domain or None, header_s=sig.selector or None
            )
            for sig in self.dkim
        ] or [authres.DKIMAuthenticationResult(result="none")]
        results.append(authres.arc.ARCAuthenticationResult(result=self.arc.result))
        results.append(
            authres.dmarc.DMARCAuthenticationResult(
                result=self.dmarc.result,
                header_from=self.from_domain or None,
                policy=self.dmarc.policy,
            )
        )
        header = authres.AuthenticationResultsHeader(authserv_id=self.receiver, results=results)
        return str(header.header_value())

    def to_json(self) -> dict[str, object]:
        return {
            "receiver": self.receiver,
            "from_domain": self.from_domain,
            "extra_from_domains": list(self.extra_from_domains),
            "spf": {
                "result": self.spf.result,
                "domain": self.spf.domain,
                "identity": self.spf.identity,
            },
            "dkim": [
                {"domain": sig.domain, "selector": sig.selector, "result": sig.result}
                for sig in self.dkim
            ],
            "arc": {
                "result": self.arc.result,
                "sealers": list(self.arc.sealers),
                "authserv_id": self.arc.authserv_id,
                "claims": [
                    {
                        "method": claim.method,
                        "result": claim.result,
                        "properties": [list(pair) for pair in claim.properties],
                    }
                    for claim in self.arc.claims
                ],
            },
            "dmarc": {"result": self.dmarc.result, "policy": self.dmarc.policy},
            "aligned_domain": self.aligned_domain,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SenderAuth:
        """Read back `to_json`'s output; raises ValueError on anything else."""
        spf, arc, dmarc = _obj(data["spf"]), _obj(data["arc"]), _obj(data["dmarc"])
        aligned = data.get("aligned_domain")
        policy = dmarc.get("policy")
        return cls(
            receiver=_str(data["receiver"]),
            from_domain=_str(data["from_domain"]),
            extra_from_domains=tuple(_str(d) for d in _list(data.get("extra_from_domains", []))),
            spf=SpfOutcome(
                cast(SpfResult, _word(spf["result"], SpfResult)),
                _str(spf["domain"]),
                cast(SpfIdentity, _word(spf.get("identity", "mailfrom"), SpfIdentity)),
            ),
            dkim=tuple(
                DkimSignature(
                    _str(sig["domain"]),
                    _str(sig["selector"]),
                    cast(DkimResult, _word(sig["result"], DkimResult)),
                )
                for sig in map(_obj, _list(data["dkim"]))
            ),
            arc=ArcOutcome(
                cast(ArcResult, _word(arc["result"], ArcResult)),
                tuple(_str(d) for d in _list(arc.get("sealers", []))),
                _str(arc.get("authserv_id", "")),
                tuple(
                    AuthClaim(
                        _str(claim["method"]),
                        _str(claim["result"]),
                        tuple(_pair(p) for p in _list(claim.get("properties", []))),
                    )
                    for claim in map(_obj, _list(arc.get("claims", [])))
                ),
            ),
            dmarc=DmarcOutcome(
                cast(DmarcResult, _word(dmarc["result"], DmarcResult)),
                None if policy is None else cast(DmarcPolicy, _word(policy, DmarcPolicy)),
            ),
            aligned_domain=None if aligned is None else _str(aligned),
        )


def _obj(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {value!r}")
    return cast(dict[str, object], value)


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {value!r}")
    return cast(list[object], value)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _pair(value: object) -> tuple[str, str]:
    key, item = _list(value)
    return _str(key), _str(item)


def _word(value: object, kind: object) -> str:
    """`value`, checked to be one of the words of the Literal type `kind`."""
    if not isinstance(value, str) or value not in get_args(kind):
        raise ValueError(f"unexpected result {value!r}")
    return value
