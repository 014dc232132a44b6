"""Find one-time codes in a mail, after Android's notification OTP detector.

Suppliers' portals mail a login code that Courier must pass on to its user. A code is a
token of 4 to 8 characters with a digit ("482913", "482-913", "482 913", "A7K29Q"),
within 50 characters of a word about codes, and not one of the numbers that look like
one: a date, year, time, phone number, amount, reference or postcode.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

WINDOW = 50
# A code mail is short; the rest of a long newsletter holds no code worth the time.
MAX_TEXT_CHARS = 20_000
# Two different codes this close in rank mean a list (backup codes), not "the" code.
_AMBIGUITY_MARGIN = 15

_CONTEXT = re.compile(
    r"\b(?:codes?|v[ée]rification|verify|v[ée]rifier|one[- ]time|otp|2fa|mfa|passcode|pin"
    r"|s[ée]curit[ée]|security|confirmation|expires?|expired|expirera|valable|valid"
    r"|usage unique|authentification|authentication|connexion|log[- ]?in|sign[- ]?in)\b",
    re.IGNORECASE,
)
_ALNUM = re.compile(r"[A-Za-z0-9]+")
# Numbers that a word names as something else: "facture n° 482913", "order #48291".
_REFERENCE = re.compile(
    r"\b(?:factures?|invoices?|commandes?|orders?|n|no|nº|num[ée]ro|numbers?|r[ée]f|ref"
    r"|r[ée]f[ée]rences?|tickets?|dossiers?|clients?|customers?|comptes?|accounts?|contrats?"
    r"|contracts?|siret|siren|tva|vat|postal|zip|promo|coupon|colis|tracking|suivi"
    r"|transactions?|lot|articles?|sku|iban|bic|id)\b[^\w\n]{0,4}(?:(?:n|no|nº|id)\b[^\w\n]{0,3})?$",
    re.IGNORECASE,
)
_MONEY_BEFORE = re.compile(r"(?:[€$£]|\b(?:eur|usd|gbp|chf)\b)\s*$", re.IGNORECASE)
_MONEY_AFTER = re.compile(r"^\s*(?:[€$£%]|(?:eur|euros?|usd|gbp|chf|ht|ttc|k€)\b)", re.IGNORECASE)
_PHONE = re.compile(
    r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]\d{2,4}){2,5}"
    r"|\(\d{2,4}\)\s?\d{3}[-.\s]?\d{4}"
)
_STREET = re.compile(
    r"\b(?:rue|avenue|av|bd|boulevard|place|chemin|all[ée]e|impasse|quai|route|cours"
    r"|street|st|road|rd|lane|bp)\b",
    re.IGNORECASE,
)
_CITY_AFTER = re.compile(r"^[ \t]+[A-ZÀ-Ý][\w'-]+")
_YEAR = re.compile(r"(?:19|20)\d\d")
# Same-length replacements, so positions found in the copy hold in the original.
_SPACES = str.maketrans({"\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2011": "-", "\u2013": "-"})


@dataclass(frozen=True, slots=True)
class CodeCandidate:
    """A token that reads as a one-time code; `distance` is how far its context word is."""

    code: str
    raw: str
    source: Literal["subject", "text"]
    start: int
    distance: int


def find_codes(subject: str, text: str) -> tuple[CodeCandidate, ...]:
    """Return every plausible one-time code in the subject and text, best first."""
    found = [*_candidates(subject, "subject"), *_candidates(text, "text")]
    return tuple(sorted(found, key=lambda c: (c.distance, c.source != "subject", c.start)))


def find_code(subject: str, text: str) -> str | None:
    """Return the one code the mail gives, or None when it gives none or several."""
    candidates = find_codes(subject, text)
    if not candidates:
        return None
    best = candidates[0]
    rivals = [c for c in candidates if c.code != best.code]
    if rivals and rivals[0].distance <= best.distance + _AMBIGUITY_MARGIN:
        return None
    return best.code


def _candidates(text: str, source: Literal["subject", "text"]) -> list[CodeCandidate]:
    text = text[:MAX_TEXT_CHARS].translate(_SPACES)
    contexts = [match.span() for match in _CONTEXT.finditer(text)]
    if not contexts:
        return []
    phones = [match.span() for match in _PHONE.finditer(text)]
    words = list(_ALNUM.finditer(text))
    spans = [(word.start(), word.end()) for word in words]
    # "482-913" and "482 913": two groups joined by one dash or space.
    for left, right in pairwise(words):
        if text[left.end() : right.start()] in ("-", " ") and len(left.group()) >= 2:
            spans.append((left.start(), right.end()))
    found: list[CodeCandidate] = []
    for start, end in spans:
        raw = text[start:end]
        code = raw.replace("-", "").replace(" ", "")
        if not _looks_like_code(code):
            continue
        distance = _distance(start, end, contexts)
        if distance > WINDOW:
            continue
        if _is_something_else(text, start, end, code, phones):
            continue
        found.append(CodeCandidate(code, raw, source, start, distance))
    return found


def _looks_like_code(code: str) -> bool:
    if not 4 <= len(code) <= 8 or not any(char.isdigit() for char in code):
        return False
    if code.isdigit():
        return not (len(code) == 4 and _YEAR.fullmatch(code))
    # Mixed tokens: capitals and at least two digits ("A7K29Q"), not "Win10" or "COVID19".
    return (
        code.upper() == code
        and sum(char.isdigit() for char in code) >= 2
        and not (re.fullmatch(r"[A-Z]+\d{1,2}", code))
    )


def _is_something_else(
    text: str, start: int, end: int, code: str, phones: list[tuple[int, int]]
) -> bool:
    before, after = text[max(0, start - 30) : start], text[end : end + 12]
    if _glued(text, start, end):
        return True  # a date, a time, a decimal, a longer number, a URL parameter
    if any(p_start <= start and end <= p_end for p_start, p_end in phones):
        return True
    if _MONEY_BEFORE.search(before) or _MONEY_AFTER.match(after):
        return True
    if _REFERENCE.search(before):
        return True
    if len(code) == 5 and code.isdigit() and _CITY_AFTER.match(after):
        line_start = before.rsplit("\n", 1)[-1].strip() == "" or before.rstrip(" ").endswith(",")
        return line_start or _STREET.search(text[max(0, start - 60) : start]) is not None
    return False


def _glued(text: str, start: int, end: int) -> bool:
    """Say whether the token is part of something longer, across one separator."""
    prev = text[start - 1] if start > 0 else ""
    prev2 = text[start - 2] if start > 1 else ""
    nxt = text[end] if end < len(text) else ""
    nxt2 = text[end + 1] if end + 1 < len(text) else ""
    if prev.isalnum() or prev in ("/", ".", ",", "-", "+", "#", "@", "_", "=", "&", "\\"):
        return True
    if prev in (" ", ":") and prev2.isdigit():
        return True
    if nxt.isalnum() or nxt in ("/", "@", "_", "%", "€", "$", "£"):
        return True
    return (nxt in (".", ",", ":", "-") and nxt2.isalnum()) or (nxt == " " and nxt2.isdigit())


def _distance(start: int, end: int, contexts: list[tuple[int, int]]) -> int:
    """Characters between the token and the nearest context word (matches are in order)."""
    index = bisect_left(contexts, (start, start))
    nearest = [contexts[i] for i in (index - 1, index) if 0 <= i < len(contexts)]
    gaps = [
        start - c_end if c_end <= start else c_start - end if c_start >= end else 0
        for c_start, c_end in nearest
    ]
    return min(gaps)
