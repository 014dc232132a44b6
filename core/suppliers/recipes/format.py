"""Read a recipe file into a `Recipe`, refusing anything doubtful with the field's name.

A recipe is written by hand, so every check here aims at the mistakes people make: a
missing or misspelt key (unknown keys are errors, not ignored), a selector that does not
parse, a regex that does not compile, a list URL without "{page}". The error says which
field, e.g. "acme.toml: login.password_field: missing (a string is required)".
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

from core.models import ChallengeChannel
from core.suppliers.recipes.model import (
    DEFAULT_ACCEPT,
    DEFAULT_FILENAME,
    ActionRule,
    ApprovalStep,
    ChannelRule,
    DownloadSpec,
    InvoiceList,
    LoginStep,
    Recipe,
    SessionCheck,
    TwoFactorStep,
)
from core.suppliers.recipes.reader import RecipeError, TableReader

ACCEPTABLE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/tiff"})


def _channel(
    table: TableReader, key: str, default: ChallengeChannel | None = None
) -> ChallengeChannel:
    value = table.opt_text(key) if default is not None else table.text(key)
    if value is None:
        assert default is not None
        return default
    try:
        return ChallengeChannel(value)
    except ValueError:
        allowed = ", ".join(c.value for c in ChallengeChannel)
        raise table.error(key, f"unknown channel {value!r} (one of {allowed})") from None


def _login(table: TableReader) -> LoginStep:
    extra = table.opt_table("extra_fields")
    extra_fields: list[tuple[str, str]] = []
    if extra is not None:
        extra_fields = [(name, extra.text(name)) for name in list(extra.data)]
        extra.finish()
    step = LoginStep(
        url=table.text("url"),
        form=table.selector("form"),
        login_field=table.text("login_field"),
        password_field=table.text("password_field"),
        csrf_field=table.opt_text("csrf_field"),
        success=table.probe("success"),
        failure=table.probe("failure"),
        extra_fields=tuple(extra_fields),
        account_label=table.opt_column("account_label"),
    )
    table.finish()
    return step


def _minutes(table: TableReader, key: str) -> timedelta | None:
    return timedelta(minutes=table.integer(key, 0, minimum=1)) if key in table.data else None


def _approval(table: TableReader) -> ApprovalStep:
    step = ApprovalStep(
        detect=table.probe("detect"),
        poll_url=table.text("poll_url"),
        denied=table.probe("denied"),
        expires_in=_minutes(table, "ttl_minutes"),
    )
    table.finish()
    return step


def _two_factor(table: TableReader) -> TwoFactorStep:
    rules = []
    for rule in table.tables("channels"):
        rules.append(ChannelRule(rule.text("contains"), _channel(rule, "channel")))
        rule.finish()
    step = TwoFactorStep(
        detect=table.probe("detect"),
        form=table.selector("form"),
        code_field=table.text("code_field"),
        rejected=table.probe("rejected"),
        destination=table.opt_column("destination"),
        remember_field=table.opt_text("remember_field"),
        channels=tuple(rules),
        default_channel=_channel(table, "default_channel", ChallengeChannel.PAGE),
        expires_in=_minutes(table, "code_ttl_minutes"),
        approval=_approval(ap) if (ap := table.opt_table("approval")) else None,
    )
    table.finish()
    return step


def _invoices(table: TableReader) -> InvoiceList:
    url = table.text("url")
    if "{page}" not in url:
        raise table.error("url", 'must contain "{page}" where the page number goes')
    formats = table.texts("date_formats")
    if not formats:
        raise table.error("date_formats", 'missing (e.g. ["%d/%m/%Y"])')
    for fmt in formats:
        if "%" not in fmt:
            raise table.error("date_formats", f"{fmt!r} is not a strptime format")
    separator = table.opt_text("decimal_separator") or ","
    if separator not in {",", "."}:
        raise table.error("decimal_separator", 'must be "," or "."')
    columns = table.table("columns")
    spec = InvoiceList(
        url=url,
        row=table.selector("row"),
        reference=columns.column("reference"),
        date=columns.column("date"),
        download=columns.column("download"),
        amount=columns.opt_column("amount"),
        date_formats=formats,
        decimal_separator="," if separator == "," else ".",
        currency=table.opt_text("currency"),
        first_page=table.integer("first_page", 1),
        max_pages=table.integer("max_pages", 50, minimum=1),
        next=table.opt_selector("next"),
        empty=table.opt_probe("empty"),
    )
    columns.finish()
    table.finish()
    return spec


def _download(table: TableReader | None) -> DownloadSpec:
    if table is None:
        return DownloadSpec()
    accept = table.texts("accept", DEFAULT_ACCEPT)
    for content_type in accept:
        if content_type not in ACCEPTABLE_TYPES:
            allowed = ", ".join(sorted(ACCEPTABLE_TYPES))
            raise table.error("accept", f"{content_type!r} is not one of {allowed}")
    filename = table.opt_text("filename") or DEFAULT_FILENAME
    if "{reference}" not in filename:
        raise table.error("filename", 'must contain "{reference}"')
    spec = DownloadSpec(accept=accept, filename=filename)
    table.finish()
    return spec


def parse_recipe(data: Mapping[str, Any], *, source: str = "recipe") -> Recipe:
    root = TableReader(data, "", source)
    actions = []
    for rule in root.tables("action_required"):
        actions.append(ActionRule(rule.text("reason"), rule.probe("detect")))
        rule.finish()
    session = root.table("session")
    recipe = Recipe(
        key=root.text("key"),
        name=root.text("name"),
        base_url=root.opt_text("base_url"),
        login=_login(root.table("login")),
        two_factor=_two_factor(tf) if (tf := root.opt_table("two_factor")) else None,
        actions=tuple(actions),
        session=SessionCheck(session.text("url"), session.probe("logged_in")),
        invoices=_invoices(root.table("invoices")),
        download=_download(root.opt_table("download")),
    )
    session.finish()
    root.finish()
    return recipe


def loads_recipe(text: str, *, source: str = "recipe") -> Recipe:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(source, "(file)", f"not valid TOML: {err}") from err
    return parse_recipe(data, source=source)


def load_recipe(path: Path) -> Recipe:
    return loads_recipe(path.read_text(encoding="utf-8"), source=path.name)


def builtin_recipe(name: str) -> Recipe:
    """A recipe shipped in this package, by file name without ".toml"."""
    resource = files("core.suppliers.recipes").joinpath(f"{name}.toml")
    return loads_recipe(resource.read_text(encoding="utf-8"), source=f"{name}.toml")
