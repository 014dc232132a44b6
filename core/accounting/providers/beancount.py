"""Beancount 3: a plain-text ledger is the accounting software (the embedded default).

- The company is the ledger's resolved path (links followed); connecting checks that
  Beancount loads it without an error, and a refusal carries Beancount's own message.
- A ledger under the ledger root (where the chat keeps each workspace's ledgers) is held
  to its workspace's folder (ledger_bounds): before every load, nothing it names may lead
  outside, and it is named to people by its name in the folder, not its server path. The
  operator's command line may link a ledger anywhere else.
- A ledger may move (`courier integration reconnect --ledger NEW`): the file at the new
  path is the same books when it holds every entry Courier published to the old one
  (their `courier_key`), or, nothing published yet, when it has the same `title` option.
  Anything else is another ledger, which is a change of software.
- Lists: accounts from the Open directives still open, suppliers from the payees, tax rates
  from accounts opened with a `tax_rate:` metadata (the percentage).
- The tax is posted on the account of each VAT line's own rate (publishing mapped it from
  the `tax_rate:` accounts); a credit note is the same transaction with every sign
  reversed (the payable is debited, the expense and the VAT credited).
- Publishing appends one balanced transaction, printed by Beancount's printer, with the
  file copied beside the ledger (`documents/…`) and linked by `document:` metadata. The
  ledger is reloaded after the write; on any error the file is cut back to its exact
  former length, so the user's own lines are never touched.
- Two writers (threads, processes) take an exclusive `flock` on the ledger; the append and
  the undo are fsynced, the document file is written to a temporary name, fsynced, renamed.
- Publishing a `courier_key` already in the ledger returns that transaction, so a retry
  after a crash never makes a second entry.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from beancount import loader
from beancount.core import amount, data, getters
from beancount.parser import printer

from core.accounting.errors import (
    AuthorizationNotSupported,
    LedgerInvalid,
    Rejected,
    Unavailable,
)
from core.accounting.provider import (
    AuthKind,
    AuthorizationStart,
    Authorized,
    Bill,
    Company,
    Grant,
    ListItem,
    ListKind,
    Published,
)
from core.accounting.providers.ledger_bounds import check_bounds, display_name, folder_of
from core.config import Settings
from core.filenames import safe_filename

NAME = "beancount"
DEFAULT_PAYABLE = "Liabilities:AccountsPayable"
#: Open metadata marking the account bills are owed on, and the VAT rate of a tax account.
PAYABLE_META = "courier_payable"
TAX_RATE_META = "tax_rate"
KEY_META = "courier_key"
DOCUMENTS_DIR = "documents"

Loaded = tuple[list[Any], list[Any], dict[str, Any]]


def build(settings: Settings) -> BeancountProvider:
    # Beancount's pickle cache would write a hidden file beside the user's ledger.
    loader.initialize(use_cache=False)
    return BeancountProvider(ledger_root=settings.ledgers_dir)


class BeancountProvider:
    name = NAME
    display_name = "Beancount"
    auth_kind = AuthKind.LOCAL_FILE
    list_kinds = frozenset({ListKind.ACCOUNTS, ListKind.SUPPLIERS, ListKind.TAX_RATES})
    #: A rule with no tax account books its supplier's bills VAT included (VAT the business
    #: does not recover): publishing then maps no rate (core/services/publishing.py).
    gross_without_tax_code = True

    def __init__(self, *, ledger_root: Path | None = None) -> None:
        self._root = ledger_root

    def warning_starts_at(self, grant: Grant) -> datetime | None:
        return None  # a file does not expire

    def refresh_due_at(self, grant: Grant) -> datetime | None:
        return None

    async def start_authorization(self, *, state: str, redirect_uri: str) -> AuthorizationStart:
        raise AuthorizationNotSupported(provider=NAME, auth_kind=str(AuthKind.OAUTH2))

    async def complete_authorization(
        self, *, params: Mapping[str, str], redirect_uri: str, code_verifier: str | None
    ) -> Authorized:
        raise AuthorizationNotSupported(provider=NAME, auth_kind=str(AuthKind.OAUTH2))

    async def connect_with_secret(self, *, secret: str) -> Authorized:
        path, folder, (_, errors, options) = await asyncio.to_thread(
            _resolve_and_load, secret, self._root
        )
        if errors:
            raise LedgerInvalid(
                path=display_name(path, folder), reason=describe_errors(errors, folder)
            )
        title = str(options.get("title") or "")
        # Beancount's default title is "Beancount": a ledger without one is named by its file.
        name = title if title and title != "Beancount" else path.name
        return Authorized(grant=Grant(), company=Company(id=str(path), name=name))

    async def same_books(
        self, *, old: Company, new: Company, published_keys: Sequence[str]
    ) -> bool:
        if published_keys:
            text = await asyncio.to_thread(Path(new.id).read_bytes)
            return all(_find_key(text, key) is not None for key in published_keys)
        # Nothing to recognise the books by but their title; a ledger without one is
        # named by its file, which says nothing about what is in it.
        titled = new.name != Path(new.id).name
        return titled and new.name == old.name

    async def refresh(self, *, grant: Grant) -> Grant:
        return grant

    async def load_list(self, *, grant: Grant, company: Company, kind: ListKind) -> list[ListItem]:
        path = Path(company.id)
        entries = await asyncio.to_thread(_load_clean, path, self._folder(path))
        return lists_from_entries(entries, kind)

    async def publish_bill(self, *, grant: Grant, company: Company, bill: Bill) -> Published:
        path = Path(company.id)
        return await asyncio.to_thread(_publish, path, self._folder(path), bill)

    async def disconnect(self, *, grant: Grant, company: Company) -> None:
        return None  # nothing to revoke: the ledger stays the user's

    def _folder(self, path: Path) -> Path | None:
        return _bounding_folder(path, self._root)


def lists_from_entries(entries: Sequence[Any], kind: ListKind) -> list[ListItem]:
    if kind == ListKind.SUPPLIERS:
        payees = sorted({p for p in getters.get_all_payees(list(entries)) if p})
        return [ListItem(code=p, name=p) for p in payees]
    opened = getters.get_account_open_close(entries)  # type: ignore[no-untyped-call]
    still_open = [(account, pair[0]) for account, pair in opened.items() if pair[1] is None]
    if kind == ListKind.ACCOUNTS:
        return [
            ListItem(code=account, name=account.rsplit(":", 1)[-1], extra=_open_extra(o))
            for account, o in sorted(still_open)
        ]
    if kind == ListKind.TAX_RATES:
        return [
            ListItem(
                code=account,
                name=f"{account} ({o.meta[TAX_RATE_META]} %)",
                extra={"rate": str(o.meta[TAX_RATE_META])},
            )
            for account, o in sorted(still_open)
            if TAX_RATE_META in (o.meta or {})
        ]
    return []  # a ledger has no customers list


def _open_extra(open_entry: Any) -> dict[str, Any]:
    root = str(open_entry.account).split(":", 1)[0]
    return {"type": root, "currencies": list(open_entry.currencies or [])}


def describe_errors(errors: Sequence[Any], folder: Path | None = None) -> str:
    """Beancount's own words: `file:line: message`, the first error and how many more.
    For a ledger held to a folder, only what a file of that folder says is quoted."""
    first = errors[0]
    source = first.source or {}
    filename = str(source.get("filename") or "")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if folder is not None:
        inside = filename.startswith("/") and Path(filename).resolve().is_relative_to(folder)
        if not inside:
            return f"Beancount reported an error{more}"
        filename = display_name(Path(filename).resolve(), folder)
    where = f"{filename}:{source.get('lineno')}: " if source.get("lineno") else ""
    return f"{where}{first.message}{more}"


def _bounding_folder(path: Path, root: Path | None) -> Path | None:
    return folder_of(path.resolve(), root.resolve()) if root is not None else None


def _resolve_and_load(secret: str, root: Path | None) -> tuple[Path, Path | None, Loaded]:
    path = Path(secret).expanduser().resolve()
    folder = _bounding_folder(path, root)
    return path, folder, _load(path, folder)


def _load(path: Path, folder: Path | None) -> Loaded:
    if folder is not None:
        check_bounds(path, folder)
    entries, errors, options = loader.load_file(str(path))
    return list(entries), list(errors), dict(options)


def _load_clean(path: Path, folder: Path | None) -> list[Any]:
    entries, errors, _ = _load(path, folder)
    if errors:
        # The user's ledger is broken right now: try again once they have fixed it.
        raise Unavailable(provider=NAME, reason=describe_errors(errors, folder))
    return entries


def _publish(path: Path, folder: Path | None, bill: Bill) -> Published:
    if not path.is_file():
        shown = display_name(path, folder)
        raise Unavailable(provider=NAME, reason=f'File "{shown}" does not exist')
    with path.open("rb+") as ledger:
        fcntl.flock(ledger.fileno(), fcntl.LOCK_EX)
        try:
            return _publish_locked(path, folder, ledger, bill)
        finally:
            fcntl.flock(ledger.fileno(), fcntl.LOCK_UN)


def _publish_locked(path: Path, folder: Path | None, ledger: Any, bill: Bill) -> Published:
    before = ledger.read()
    found = _find_key(before, bill.idempotency_key)
    if found is not None:
        return Published(external_id=bill.idempotency_key, location=f"{path}:{found}")
    entries = _load_clean(path, folder)
    payable = _payable_account(entries)
    document = _store_document(path.parent, bill)
    relative = document.relative_to(path.parent).as_posix()
    text = printer.format_entry(_transaction(bill, payable=payable, document=relative))
    separator = b"" if not before or before.endswith(b"\n") else b"\n"
    addition = separator + b"\n" + text.encode("utf-8")
    ledger.seek(0, os.SEEK_END)
    ledger.write(addition)
    ledger.flush()
    os.fsync(ledger.fileno())
    try:
        _, errors, _ = _load(path, folder)
        if errors:
            raise Rejected(provider=NAME, reason=describe_errors(errors, folder))
    except BaseException:
        _undo(ledger, length=len(before))
        with suppress(FileNotFoundError):
            document.unlink()
        raise
    # Past the user's lines: the separator (ending a last line without one), a blank line.
    line = before.count(b"\n") + len(separator) + 2
    return Published(external_id=bill.idempotency_key, location=f"{path}:{line}")


def _undo(ledger: Any, *, length: int) -> None:
    """Cut the file back to exactly what it was before our append."""
    ledger.truncate(length)
    ledger.flush()
    os.fsync(ledger.fileno())


def _find_key(text: bytes, key: str) -> int | None:
    match = re.search(rf'^[ \t]+{KEY_META}:\s*"{re.escape(key)}"'.encode(), text, re.MULTILINE)
    if match is None:
        return None
    return text.count(b"\n", 0, match.start())  # the transaction's line, just above


def _payable_account(entries: Sequence[Any]) -> str:
    opened_closed = getters.get_account_open_close(entries)  # type: ignore[no-untyped-call]
    for account, (opened, closed) in opened_closed.items():
        if closed is None and (opened.meta or {}).get(PAYABLE_META):
            return str(account)
    return DEFAULT_PAYABLE


def _transaction(bill: Bill, *, payable: str, document: str) -> Any:
    currency = bill.currency.upper()
    sign = Decimal(-1) if bill.credit_note else Decimal(1)
    taxes = _tax_amounts(bill)
    # The expense is what the VAT accounts leave of the total: the entry always balances.
    expense = bill.total_incl - sum(taxes.values(), Decimal(0))
    postings = [_posting(bill.account_code, sign * expense, currency)]
    postings += [_posting(account, sign * tax, currency) for account, tax in taxes.items()]
    postings.append(_posting(payable, -sign * bill.total_incl, currency))
    narration = " ".join(
        part
        for part in (
            f"{'Credit note' if bill.credit_note else 'Invoice'} {bill.number}"
            if bill.number
            else bill.file.filename,
            f"due {bill.due_date.isoformat()}" if bill.due_date else "",
            bill.description,
        )
        if part
    )
    meta = data.new_metadata("<courier>", 0, {"document": document, KEY_META: bill.idempotency_key})
    return data.Transaction(
        meta,
        bill.issue_date,
        "*",
        bill.supplier_code or bill.supplier_name,
        narration,
        data.EMPTY_SET,
        data.EMPTY_SET,
        postings,
    )


def _tax_amounts(bill: Bill) -> dict[str, Decimal]:
    """The VAT per tax account: each line on its rate's account; with no VAT line read,
    the rule's account takes the total tax. A line without an account (a ledger that keeps
    no VAT accounts) books the whole bill as its expense."""
    if bill.vat_lines:
        if any(line.tax_rate_code is None for line in bill.vat_lines):
            return {}
        taxes: dict[str, Decimal] = {}
        for line in bill.vat_lines:
            assert line.tax_rate_code is not None
            taxes[line.tax_rate_code] = taxes.get(line.tax_rate_code, Decimal(0)) + line.tax
        return {account: tax for account, tax in taxes.items() if tax != 0}
    if bill.tax_rate_code is not None and bill.total_tax != 0:
        return {bill.tax_rate_code: bill.total_tax}
    return {}


def _posting(account: str, value: Decimal, currency: str) -> Any:
    return data.Posting(account, amount.Amount(value, currency), None, None, None, None)


def _store_document(root: Path, bill: Bill) -> Path:
    """Copy the file beside the ledger (temp + fsync + rename), named so it is unique."""
    folder = root / DOCUMENTS_DIR
    folder.mkdir(exist_ok=True)
    unique = f"{bill.issue_date.isoformat()}.{bill.idempotency_key[-12:]}"
    target = folder / f"{unique}.{safe_filename(bill.file.filename)}"
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".courier-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(bill.file.content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return target
