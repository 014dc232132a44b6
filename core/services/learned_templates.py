"""A supplier's template, learned from a person's corrections and read with next time.

When a document is read, the laid-out text the reader saw is kept with it
(`PAGE_TEXT`), so that a correction made later in review can be placed on the page. Each
answer a person gives about a supplier's field (`learn_answer`) records where the value
sat: its label, its place and its shape (core/extraction/learned.py). The result is a
template table in the hand-written templates' format, kept as data in the supplier
profile's `habits` under `TEMPLATE`: no migration, and it goes with the profile.

The next document of that supplier (once the supplier is matched) is read with it first
(`read_with_learned`): its values have source "template" and LEARNED_CONFIDENCE, and the
general reading fills what the template does not cover.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from core.extraction.fields import InvoiceData
from core.extraction.learned import CONSTANT_FIELDS, PLACED_FIELDS, learn_field
from core.extraction.merge import merge
from core.extraction.template import TemplateInvalid, apply_template, parse_template
from core.models import SupplierProfile

log = logging.getLogger(__name__)

#: The key of the document's fields that keeps the text it was read from.
PAGE_TEXT = "_page_text"
#: The key of the profile's habits that holds its learned template.
TEMPLATE = "template"
# An invoice's few pages are a few thousand characters; more is a catalogue's text.
MAX_PAGE_TEXT = 30_000
LEARNABLE = PLACED_FIELDS | CONSTANT_FIELDS


def keep_page_text(fields: dict[str, Any], text: str) -> dict[str, Any]:
    """`fields` with the text the reading saw, when there was one."""
    return {**fields, PAGE_TEXT: text[:MAX_PAGE_TEXT]} if text.strip() else fields


def learned_template(profile: SupplierProfile) -> dict[str, Any] | None:
    table = (profile.habits or {}).get(TEMPLATE)
    return table if isinstance(table, dict) and table.get("fields") else None


def read_with_learned(profile: SupplierProfile, text: str, data: InvoiceData) -> InvoiceData:
    """`data` with what the supplier's learned template reads on `text` put first."""
    table = learned_template(profile)
    if table is None or not text.strip():
        return data
    try:
        template = parse_template(table, origin=f"learned template of profile {profile.id}")
    except TemplateInvalid:
        # A stored template that no longer parses must not stop the reading.
        log.warning("profile %s: learned template ignored", profile.id, exc_info=True)
        return data
    return merge(apply_template(template, text), data)


def learn_answer(
    profile: SupplierProfile, fields: dict[str, Any], field: str, value: object
) -> bool:
    """Record where `field`'s right `value` sits on the document whose `fields` these are,
    in `profile`'s learned template; False when it could not be placed."""
    text = fields.get(PAGE_TEXT)
    if field not in LEARNABLE or not isinstance(text, str) or not text:
        return False
    typed = _typed(field, value)
    if typed is None:
        return False
    table = learned_template(profile) or _new_table(profile)
    options = dict(table.get("options", {}))
    rule = None
    # The date's order is learned with it: the one that finds the value back.
    for month_first in dict.fromkeys((bool(options.get("month_first", False)), False, True)):
        rule = learn_field(text, field, typed, month_first=month_first)
        if rule is not None:
            if field in ("issue_date", "due_date"):
                options["month_first"] = month_first
            break
    if rule is None:
        return False
    identifiers = list(table.get("match", {}).get("identifiers", []))
    if profile.vat and profile.vat not in identifiers:
        identifiers.append(profile.vat)
    table = {
        **table,
        "match": {**table.get("match", {}), "identifiers": identifiers},
        "options": options,
        "fields": {**table.get("fields", {}), field: rule},
    }
    # A new dict: the JSON column only notices reassignment.
    profile.habits = {**(profile.habits or {}), TEMPLATE: table}
    return True


def _new_table(profile: SupplierProfile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "match": {"keywords": [profile.name.casefold()], "identifiers": []},
        "options": {"examples": 1, "month_first": False},
        "fields": {},
    }


def _typed(field: str, value: object) -> object | None:
    try:
        if field in ("issue_date", "due_date"):
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if field.startswith("total_"):
            return Decimal(str(value))
    except (ValueError, InvalidOperation):
        return None
    return str(value)
