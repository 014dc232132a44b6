"""Recipes as data: the shipped one loads, a bad one names its faulty field, and the
page helpers read forms, dates and amounts as portals write them."""

from __future__ import annotations

import copy
import tomllib
from datetime import date, timedelta
from decimal import Decimal
from importlib.resources import files
from typing import Any

import httpx
import pytest

from core.models import ChallengeChannel
from core.suppliers.recipes import RecipeError, builtin_recipe, loads_recipe, parse_recipe
from core.suppliers.recipes.model import Column, Probe
from core.suppliers.recipes.page import Page, parse_amount, parse_date, read_column

DEMO_TEXT = files("core.suppliers.recipes").joinpath("demo_supplier.toml").read_text("utf-8")
DEMO: dict[str, Any] = tomllib.loads(DEMO_TEXT)


def test_the_demo_recipe_loads() -> None:
    recipe = builtin_recipe("demo_supplier")
    assert recipe.key == "demo-supplier"
    assert recipe.login.csrf_field == "csrf_token"
    assert recipe.two_factor is not None
    assert recipe.two_factor.expires_in == timedelta(minutes=10)
    assert [r.channel for r in recipe.two_factor.channels] == [
        ChallengeChannel.EMAIL,
        ChallengeChannel.SMS,
    ]
    assert recipe.actions[0].reason == "terms"
    assert recipe.invoices.download == Column("a.download", attribute="href")
    assert recipe.download.accept == ("application/pdf",)


def _broken(change: Any) -> RecipeError:
    data = copy.deepcopy(DEMO)
    change(data)
    with pytest.raises(RecipeError) as caught:
        parse_recipe(data, source="acme.toml")
    return caught.value


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (lambda d: d["login"].pop("password_field"), "login.password_field", "missing"),
        (lambda d: d.pop("invoices"), "invoices", "missing"),
        (lambda d: d["login"].update(pasword_field="x"), "login.pasword_field", "unknown key"),
        (lambda d: d["invoices"].update(row="tr[["), "invoices.row", "not a valid CSS selector"),
        (lambda d: d["invoices"].update(url="/invoices"), "invoices.url", "{page}"),
        (lambda d: d["invoices"].update(max_pages="10"), "invoices.max_pages", "an integer"),
        (lambda d: d["invoices"].update(max_pages=True), "invoices.max_pages", "an integer"),
        (lambda d: d["invoices"].update(max_pages=0), "invoices.max_pages", "at least 1"),
        (
            lambda d: d["invoices"].update(date_formats=["dd/mm"]),
            "invoices.date_formats",
            "strptime",
        ),
        (
            lambda d: d["invoices"].update(decimal_separator=";"),
            "invoices.decimal_separator",
            '","',
        ),
        (
            lambda d: d["invoices"]["columns"].pop("date"),
            "invoices.columns.date",
            "missing",
        ),
        (
            lambda d: d["invoices"]["columns"]["amount"].update(selector=""),
            "invoices.columns.amount.selector",
            "empty",
        ),
        (lambda d: d["login"].update(success={}), "login.success", '"selector" or "text"'),
        (
            lambda d: d["two_factor"]["channels"][1].update(channel="pigeon"),
            "two_factor.channels[1].channel",
            "unknown channel 'pigeon'",
        ),
        (
            lambda d: d["two_factor"]["destination"].update(pattern="(["),
            "two_factor.destination.pattern",
            "regular expression",
        ),
        (
            lambda d: d["action_required"][0].pop("reason"),
            "action_required[0].reason",
            "missing",
        ),
        (lambda d: d["download"].update(accept=["text/html"]), "download.accept", "text/html"),
        (lambda d: d["download"].update(filename="x.pdf"), "download.filename", "{reference}"),
        (lambda d: d.update(key=3), "key", "must be a string, not int"),
    ],
)
def test_a_bad_recipe_names_the_field(change: Any, field: str, problem: str) -> None:
    error = _broken(change)
    assert error.field == field
    assert problem in error.problem
    assert str(error).startswith(f"acme.toml: {field}: ")


def test_invalid_toml_is_reported_as_such() -> None:
    with pytest.raises(RecipeError, match=r"acme\.toml: \(file\): not valid TOML"):
        loads_recipe("key = ", source="acme.toml")


def test_optional_parts_may_be_left_out() -> None:
    data = copy.deepcopy(DEMO)
    for optional in ("two_factor", "action_required", "download", "base_url"):
        data.pop(optional)
    data["invoices"]["columns"].pop("amount")
    recipe = parse_recipe(data)
    assert recipe.two_factor is None
    assert recipe.actions == ()
    assert recipe.base_url is None
    assert recipe.download.filename == "{reference}.pdf"


# -- reading pages -----------------------------------------------------------------------

LOGIN = """<html><body><div class="alert">Identifiant INCORRECT</div>
<form id="f" action="/session" method="post">
  <input type="hidden" name="csrf" value="t0k">
  <input name="user"><input type="password" name="pass">
  <input type="checkbox" name="remember" value="yes">
  <input type="checkbox" name="news" checked>
  <input type="radio" name="lang" value="fr" checked><input type="radio" name="lang" value="en">
  <select name="portal"><option value="pro">Pro</option><option value="perso" selected>x</select>
  <textarea name="note">hi</textarea>
  <input name="off" value="1" disabled>
  <button type="submit" name="go" value="1"><span class="inner">OK</span></button>
</form></body></html>"""


def test_a_form_is_read_as_a_browser_would_send_it() -> None:
    page = Page(httpx.URL("https://portal.example/login?x=1"), 200, LOGIN)
    form = page.form("form#f")
    assert form is not None
    assert form.action == httpx.URL("https://portal.example/session")
    assert form.method == "POST"
    assert form.fields == {
        "csrf": "t0k",
        "user": "",
        "pass": "",
        "news": "on",
        "lang": "fr",
        "portal": "perso",
        "note": "hi",
        "go": "1",
    }
    assert form.checkboxes == {"remember": "yes"}
    assert {"go", "remember", "user"} <= form.names
    assert "off" not in form.names
    assert page.form("span.inner") == form  # a node inside the form finds the form
    assert page.form("form#missing") is None


def test_probes_match_a_selector_or_text_ignoring_case() -> None:
    page = Page(httpx.URL("https://portal.example/"), 200, LOGIN)
    assert page.matches(Probe(text="identifiant incorrect"))
    assert page.matches(Probe(selector=".alert"))
    assert not page.matches(Probe(selector=".logout", text="déconnexion"))
    assert page.probe_text(Probe(selector=".alert")) == "Identifiant INCORRECT"


def test_columns_take_text_attribute_and_pattern() -> None:
    page = Page(
        httpx.URL("https://portal.example/"),
        200,
        '<p class="d">Envoyé par SMS au ••••12.</p><a class="l" href="/f/1.pdf">PDF</a>',
    )
    link = page.tree.css_first("a.l")
    assert link is not None
    assert read_column(link, Column("ignored")) == "PDF"  # the node given is the one read
    assert page.value(Column("p.d", pattern=r"([•*]+\S*[^\s.])")) == "••••12"
    assert page.value(Column("a.l", attribute="href")) == "/f/1.pdf"
    assert page.value(Column("a.l", attribute="title")) is None
    assert page.value(Column("p.d", pattern=r"\d{5}")) is None


@pytest.mark.parametrize(
    ("text", "separator", "amount", "currency"),
    [
        ("118,80 €", ",", Decimal("118.80"), "EUR"),
        ("1\u00a0234,56\u00a0€", ",", Decimal("1234.56"), "EUR"),
        ("1.234,56 EUR", ",", Decimal("1234.56"), "EUR"),
        ("-12,00 €", ",", Decimal("-12.00"), "EUR"),
        ("€1,234.56", ".", Decimal("1234.56"), "EUR"),
        ("$ 99.90", ".", Decimal("99.90"), "USD"),
        ("42", ",", Decimal("42"), None),
    ],
)
def test_amounts(text: str, separator: str, amount: Decimal, currency: str | None) -> None:
    assert parse_amount(text, separator) == (amount, currency)


def test_unreadable_amounts_and_dates_raise() -> None:
    with pytest.raises(ValueError, match="no amount"):
        parse_amount("gratuit", ",")
    with pytest.raises(ValueError, match="matches none"):
        parse_date("32/13/2026", ("%d/%m/%Y", "%Y-%m-%d"))


def test_dates_try_each_format() -> None:
    formats = ("%d/%m/%Y", "%Y-%m-%d")
    assert parse_date("15/11/2026", formats) == date(2026, 11, 15)
    assert parse_date(" 2026-11-15 ", formats) == date(2026, 11, 15)
