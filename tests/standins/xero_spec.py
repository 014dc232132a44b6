"""Xero's official OpenAPI documents (XeroAPI/Xero-OpenAPI, MIT, copied with their LICENSE
under specs/xero/), read once per process and used by the Xero stand-in to judge every
request and answer with openapi-core.

- Requests are judged against a stricter copy: every object schema that names its
  properties refuses any other (`additionalProperties: false`), so a misspelt or invented
  field is a 400, never silently dropped as a lenient parser would.
- Answers are judged against the documents as published (Xero's envelope carries fields
  such as `Id` and `ProviderName` that the schemas do not list).
- The documents' OAuth2 requirements are taken out of openapi-core's hands (it warns on
  OAuth2 and checks no scope) and kept here as the scopes each operation accepts; the
  granular scopes that replace `accounting.transactions` for apps created from
  2 March 2026 are added to them.

Loading costs about a second (the accounting document is 0.9 MB of YAML); `cache` keeps
it to once per test process.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPECS = Path(__file__).parent / "specs" / "xero"
HOST = "https://api.xero.com"
#: Granular scopes (apps created from 2 March 2026) that stand for `accounting.transactions`
#: on each family of endpoints, as Xero's scope documentation lists them.
GRANULAR = {
    "accounting.invoices": (
        "/Invoices",
        "/CreditNotes",
        "/Items",
        "/LinkedTransactions",
        "/PurchaseOrders",
        "/Quotes",
        "/RepeatingInvoices",
    ),
    "accounting.payments": ("/Payments", "/BatchPayments", "/Overpayments", "/Prepayments"),
    "accounting.banktransactions": ("/BankTransactions", "/BankTransfers"),
    "accounting.manualjournals": ("/ManualJournals",),
}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented operation: its path template and the scopes that reach it."""

    template: str
    pattern: re.Pattern[str]
    method: str
    scopes: frozenset[str]


class Spec:
    """One OpenAPI document, strict for requests and as published for answers."""

    def __init__(self, document: dict[str, Any], *, base: str) -> None:
        self.base = base
        self.operations = tuple(_operations(document))
        _raw_bodies(document)
        lenient = copy.deepcopy(document)
        _tighten(document)
        config = Config(spec_validator_cls=None)  # the published documents are trusted
        self._strict = OpenAPI.from_dict(document, config=config)
        self._lenient = OpenAPI.from_dict(lenient, config=config)

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation a request reaches; Xero matches paths without regard to case."""
        for op in self.operations:
            if op.method == method.lower() and op.pattern.fullmatch(path):
                return op
        return None

    def request_problems(
        self,
        op: Operation,
        path: str,
        *,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | None,
        content_type: str,
    ) -> list[str]:
        request = MockRequest(
            HOST,
            op.method,
            self.base + _as_documented(op, path),
            args=dict(query),
            headers=dict(headers),
            data=body,
            content_type=content_type,
        )
        try:
            self._strict.validate_request(request)
        except Exception as err:  # openapi-core's errors share no base but Exception
            return _messages(err)
        return []

    def answer_problems(
        self, op: Operation, path: str, *, status: int, body: bytes, content_type: str
    ) -> list[str]:
        request = MockRequest(HOST, op.method, self.base + _as_documented(op, path))
        response = MockResponse(body, status_code=status, content_type=content_type)
        try:
            self._lenient.validate_response(request, response)
        except Exception as err:
            return _messages(err)
        return []


@dataclass(frozen=True, slots=True)
class XeroSpecs:
    accounting: Spec
    identity: Spec


@functools.cache
def specs() -> XeroSpecs:
    """Both documents, loaded once per process."""
    return XeroSpecs(
        accounting=Spec(_load("xero_accounting.yaml"), base="/api.xro/2.0"),
        identity=Spec(_load("xero-identity.yaml"), base=""),
    )


def _load(name: str) -> dict[str, Any]:
    with (SPECS / name).open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=_LOADER)
    return document


def _operations(document: dict[str, Any]) -> Iterator[Operation]:
    for template, item in document["paths"].items():
        pattern = re.compile(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), re.IGNORECASE)
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            scopes: set[str] = set()
            for requirement in op.pop("security", None) or []:
                scopes.update(*requirement.values())
            for granular, prefixes in GRANULAR.items():
                if template.startswith(prefixes):
                    if "accounting.transactions" in scopes:
                        scopes.add(granular)
                    if "accounting.transactions.read" in scopes:
                        scopes.add(f"{granular}.read")
            yield Operation(template, pattern, method, frozenset(scopes))


def _raw_bodies(document: dict[str, Any]) -> None:
    """A file is sent as its raw bytes (as Xero's own SDKs do). The documents say
    `format: byte`, which OpenAPI 3.0 reserves for base64 text; `binary` is the raw form."""
    for item in document["paths"].values():
        for op in item.values():
            content = op.get("requestBody", {}).get("content", {}) if isinstance(op, dict) else {}
            schema = content.get("application/octet-stream", {}).get("schema", {})
            if schema.get("format") == "byte":
                schema["format"] = "binary"


def _tighten(node: Any) -> None:
    """`additionalProperties: false` on every object schema that lists its properties and
    is not one branch of a composition (where the other branches add properties)."""
    if isinstance(node, dict):
        composed = any(key in node for key in ("allOf", "anyOf", "oneOf"))
        if "properties" in node and "additionalProperties" not in node and not composed:
            node["additionalProperties"] = False
        for key, value in node.items():
            if key in ("allOf", "anyOf", "oneOf", "example", "examples"):
                continue
            _tighten(value)
    elif isinstance(node, list):
        for value in node:
            _tighten(value)


def _as_documented(op: Operation, path: str) -> str:
    """The request's path spelt as the document spells it (`/connections` is `/Connections`)."""
    out, rest = "", path
    for part in re.split(r"(\{[^}]+\})", op.template):
        if part.startswith("{"):
            value = rest.split("/", 1)[0]
            out, rest = out + value, rest[len(value) :]
        else:
            out, rest = out + part, rest[len(part) :]
    return out + rest


def _messages(err: BaseException) -> list[str]:
    """What went wrong, in the words of the schema validator where it has some."""
    found: list[str] = []
    seen: BaseException | None = err
    while seen is not None:
        for schema_error in getattr(seen, "schema_errors", ()) or ():
            where = ".".join(str(p) for p in schema_error.absolute_path)
            found.append(f"{where}: {schema_error.message}" if where else schema_error.message)
        seen = seen.__cause__ or seen.__context__
    return found or [str(err) or type(err).__name__]
