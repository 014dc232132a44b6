"""QuickBooks Online's entity schema (Intuit's `Finance.xsd` with the files it includes,
Apache-2.0, copied with their LICENSE under specs/quickbooks/), used by the QuickBooks
stand-in to judge every Bill and VendorCredit body it is sent.

The v3 API speaks JSON, but its entities are the XSD's: the JSON body is the same tree,
with a reference (`ReferenceType`, simple content with `name` and `type` attributes)
written as `{"value", "name"}` and a repeated element as a list. `to_xml` turns a body
back into the XSD's XML, each object's members placed in the order of the schema's
sequences (JSON has none), and lxml validates it against the full schema. So a misspelt
or invented field, a required element left out (a line's `DetailType`, an
`AccountBasedExpenseLineDetail` without `AccountRef`, a `TaxLineDetail` without
`TaxRateRef`), a value that is not of its type (an enumeration, a date, a decimal) are
refused, as Intuit refuses them.

Members the schema does not have are kept, at the end of their parent, so the validator
names them ("This element is not expected"). Compiling the schema takes under a tenth of a
second; `schema` keeps it to once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

SPECS = Path(__file__).parent / "specs" / "quickbooks"
XS = "{http://www.w3.org/2001/XMLSchema}"
NS = "http://schema.intuit.com/finance/v3"
FILES = ("IntuitBaseTypes.xsd", "IntuitNamesTypes.xsd", "Finance.xsd")


@dataclass(frozen=True, slots=True)
class Child:
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class ComplexType:
    #: Element children in schema order, inherited ones first.
    children: tuple[Child, ...]
    #: Simple content (a ReferenceType): JSON's `value` is the text, the rest attributes.
    simple: bool


@functools.cache
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SPECS / "IntuitRestServiceDef.xsd")))


@functools.cache
def types() -> Mapping[str, ComplexType]:
    """Every complex type of the included files, by name, with its extension bases unfolded."""
    raw: dict[str, etree._Element] = {}
    groups: dict[str, etree._Element] = {}
    for name in FILES:
        root = etree.parse(str(SPECS / name)).getroot()
        raw |= {t.get("name"): t for t in root.iter(f"{XS}complexType") if t.get("name")}
        groups |= {g.get("name"): g for g in root.iter(f"{XS}group") if g.get("name")}

    def elements(node: etree._Element) -> list[Child]:
        out: list[Child] = []
        for item in node:
            if item.tag == f"{XS}element" and item.get("name"):
                out.append(Child(item.get("name"), _local(item.get("type") or "")))
            elif item.tag in (f"{XS}sequence", f"{XS}choice"):
                out += elements(item)
            elif item.tag == f"{XS}group" and item.get("ref"):
                out += elements(groups[_local(item.get("ref"))])
        return out

    @functools.cache
    def build(name: str) -> ComplexType:
        node = raw[name]
        simple = node.find(f"{XS}simpleContent") is not None
        extension = node.find(f"{XS}complexContent/{XS}extension")
        if extension is None:
            return ComplexType(tuple(elements(node)), simple)
        base = _local(extension.get("base") or "")
        inherited = build(base).children if base in raw else ()
        return ComplexType((*inherited, *elements(extension)), simple)

    return {name: build(name) for name in raw}


def to_xml(entity: str, body: Mapping[str, Any]) -> etree._Element:
    """`body` (an entity's JSON) as the XSD's XML element `entity`."""
    return _element(entity, entity, body)


def problems(entity: str, body: Mapping[str, Any]) -> list[str]:
    """What the schema refuses in `body`, worded by the validator; empty when valid."""
    checker = schema()
    if checker.validate(to_xml(entity, body)):
        return []
    return [f"{e.path}: {e.message}" for e in checker.error_log]


def _element(name: str, type_name: str, value: Any) -> etree._Element:
    node = etree.Element(f"{{{NS}}}{name}")
    known = types().get(type_name)
    if known is None or not isinstance(value, Mapping):
        node.text = _text(value)
        return node
    if known.simple:
        node.text = _text(value.get("value"))
        for key, item in value.items():
            if key != "value":
                node.set(key, _text(item))
        return node
    placed: set[str] = set()
    for child in known.children:
        if child.name in value and child.name not in placed:
            placed.add(child.name)
            _append(node, child.name, child.type, value[child.name])
    for key, item in value.items():
        if key not in placed:
            _append(node, key, "", item)  # not in the schema: the validator names it
    return node


def _append(parent: etree._Element, name: str, type_name: str, value: Any) -> None:
    for item in value if isinstance(value, list) else [value]:
        parent.append(_element(name, type_name, item))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return "" if value is None else str(value)


def _local(qualified: str) -> str:
    return qualified.rpartition(":")[2]
