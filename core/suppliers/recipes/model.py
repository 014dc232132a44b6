"""The parsed form of a portal recipe: frozen values, checked once when the file is read.

The TOML layout they come from is documented in `core.suppliers.recipes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from core.models import ChallengeChannel


@dataclass(frozen=True, slots=True)
class Probe:
    """Something that tells a page apart: a CSS selector that matches, or a text the page
    contains (compared case-insensitively). With both, either one is enough."""

    selector: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Column:
    """Where a value is on a page or in a row: the first node matching `selector`, its
    text (or `attribute`), then the first group of `pattern` if given."""

    selector: str
    attribute: str | None = None
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class LoginStep:
    url: str
    form: str
    login_field: str
    password_field: str
    success: Probe
    failure: Probe
    csrf_field: str | None = None
    extra_fields: tuple[tuple[str, str], ...] = ()
    account_label: Column | None = None


@dataclass(frozen=True, slots=True)
class ChannelRule:
    contains: str
    channel: ChallengeChannel


@dataclass(frozen=True, slots=True)
class ApprovalStep:
    """ "Approve the login in your app": a page to reload until the site moves on."""

    detect: Probe
    poll_url: str
    denied: Probe
    expires_in: timedelta | None = None


@dataclass(frozen=True, slots=True)
class TwoFactorStep:
    detect: Probe
    form: str
    code_field: str
    rejected: Probe
    destination: Column | None = None
    remember_field: str | None = None
    channels: tuple[ChannelRule, ...] = ()
    default_channel: ChallengeChannel = ChallengeChannel.PAGE
    expires_in: timedelta | None = None
    approval: ApprovalStep | None = None


@dataclass(frozen=True, slots=True)
class ActionRule:
    """A page that blocks the way until the user acts on the site (terms, password)."""

    reason: str
    detect: Probe


@dataclass(frozen=True, slots=True)
class SessionCheck:
    url: str
    logged_in: Probe


@dataclass(frozen=True, slots=True)
class InvoiceList:
    url: str  # holds "{page}"
    row: str
    reference: Column
    date: Column
    download: Column
    date_formats: tuple[str, ...]
    amount: Column | None = None
    decimal_separator: Literal[",", "."] = ","
    currency: str | None = None
    first_page: int = 1
    max_pages: int = 50
    next: str | None = None
    empty: Probe | None = None


DEFAULT_ACCEPT = ("application/pdf",)
DEFAULT_FILENAME = "{reference}.pdf"


@dataclass(frozen=True, slots=True)
class DownloadSpec:
    accept: tuple[str, ...] = DEFAULT_ACCEPT
    filename: str = DEFAULT_FILENAME


@dataclass(frozen=True, slots=True)
class Recipe:
    key: str
    name: str
    login: LoginStep
    session: SessionCheck
    invoices: InvoiceList
    download: DownloadSpec = DownloadSpec()
    two_factor: TwoFactorStep | None = None
    actions: tuple[ActionRule, ...] = ()
    base_url: str | None = None
