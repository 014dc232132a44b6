"""A document's read fields as the command line shows them (`inbox show`, `extract`).

`Document.fields` holds what was read, `{name: {"value", "source", "confidence"}}` and the
reader's warnings, beside Courier's own notes under `_` keys (when it was read, the
supplier it was matched to, the rule applied, what awaits a person). People get the fields
as a table and the notes as named lines; scripts get the same split as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from courier.output import human

#: The columns of the fields table.
COLUMNS = ("field", "value", "source", "confidence")
#: What sits beside the fields: the reader's warnings, and the file `extract` read.
_NOT_FIELDS = frozenset({"warnings", "file"})
#: Courier's notes, under the names the JSON and the lines give them.
NOTE_NAMES: dict[str, str] = {
    "_read": "read",
    "_supplier": "supplier_profile",
    "_rule": "rule",
    "_duplicate_of": "duplicate_of",
    "_confirm": "awaiting_confirmation",
    "_confirmed": "confirmed",
    "_confirmed_by": "confirmed_by",
    "_vouched": "vouched",
}


def read_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields read, in the reader's order, without the warnings and the notes."""
    return {n: f for n, f in fields.items() if not n.startswith("_") and n not in _NOT_FIELDS}


def field_rows(fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row a field; a list value (VAT lines) takes one row an item, the name once."""
    rows: list[dict[str, Any]] = []
    for name, field in read_fields(fields).items():
        if field is None:
            continue
        if isinstance(field, Mapping) and "value" in field:
            value, source = field["value"], field.get("source")
            confidence = field.get("confidence")
        else:  # a bare value, as an older reader stored it
            value, source, confidence = field, None, None
        items = value if isinstance(value, list) and value else [value]
        for index, item in enumerate(items):
            first = index == 0
            rows.append(
                {
                    "field": name if first else "",
                    "value": item,
                    "source": source if first else None,
                    "confidence": f"{float(confidence):.2f}"
                    if first and isinstance(confidence, int | float)
                    else None,
                }
            )
    return rows


#: Kept for Courier's own use, not a note: the page's text (up to 30,000 characters),
#: from which a person's correction is learned (PAGE_TEXT in
#: core/services/learned_templates.py, whose imports `inbox show` does not need).
_INTERNAL = frozenset({"_page_text"})


def notes_for_json(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Courier's notes under plain names; an unknown `_` key keeps its name, unprefixed."""
    return {
        NOTE_NAMES.get(key, key.lstrip("_")): value
        for key, value in fields.items()
        if key.startswith("_") and key not in _INTERNAL
    }


def note_lines(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Courier's notes as `name: value` pairs a person reads (unknown ones left out)."""
    pairs: list[tuple[str, str]] = []
    read = fields.get("_read")
    if isinstance(read, Mapping):
        if read.get("error"):
            pairs.append(("read", f"could not be read ({read['error']})"))
        elif read.get("at"):
            pairs.append(("read", human(_moment(read["at"]))))
    supplier = fields.get("_supplier")
    if isinstance(supplier, Mapping):
        how = supplier.get("matched_by")
        matched = "a new supplier" if how == "new" else f"matched by {human(how)}"
        pairs.append(("supplier profile", f"{human(supplier.get('profile_id'))} ({matched})"))
    rule = fields.get("_rule")
    if isinstance(rule, Mapping):
        said = [f"account {human(rule.get('account_code'))}"]
        if rule.get("tax_rate_code"):
            said.append(f"tax rate {human(rule['tax_rate_code'])}")
        if rule.get("auto_publish"):
            said.append("published automatically")
        pairs.append(("rule", ", ".join(said)))
    if fields.get("_duplicate_of") is not None:
        pairs.append(("duplicate of", f"document {human(fields['_duplicate_of'])}"))
    if fields.get("_confirm"):
        pairs.append(("awaiting confirmation", human(fields["_confirm"])))
    if fields.get("_confirmed"):
        pairs.append(("confirmed by a person", human(fields["_confirmed"])))
    vouched = fields.get("_vouched")
    if isinstance(vouched, Mapping):
        by = str(vouched.get("by", "")).replace("_", " ")
        pairs.append(("vouched for", f"{by} ({human(vouched.get('domain'))})"))
    return pairs


def _moment(value: object) -> object:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return value


def warnings_of(fields: Mapping[str, Any]) -> list[str]:
    warnings = fields.get("warnings")
    return [str(w) for w in warnings] if isinstance(warnings, list) else []
