"""The demo supplier's HTML pages, in French like the portals Courier's users log into.

Pages are small f-strings over escaped values: enough markup for a recipe to find its
way (ids, classes, rel="next"), nothing a test would need a browser for.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from courier.demo_supplier.config import DateStyle, DemoInvoice
from courier.demo_supplier.pdf import euros

STYLE = (
    "body{font-family:sans-serif;max-width:48rem;margin:2rem auto;color:#222}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem}"
    ".alert{padding:.6rem;border-radius:4px}.alert-error{background:#fde2e2;color:#8a1c1c}"
    "label{display:block;margin:.5rem 0}"
)


def layout(title: str, body: str, *, company: str | None = None) -> str:
    account = (
        f'<span class="account">{escape(company)}</span> <a class="logout" href="/logout">'
        "Se déconnecter</a>"
        if company
        else ""
    )
    return (
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{escape(title)}'
        f" — Demo Supplier</title><style>{STYLE}</style></head><body>"
        f"<header><strong>Demo Supplier</strong> — Espace client {account}</header>"
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def _error(message: str | None) -> str:
    return f'<div class="alert alert-error" role="alert">{escape(message)}</div>' if message else ""


def login_page(csrf: str, *, error: str | None = None, changed: bool = False) -> str:
    # The "changed" variant is the same page after a redesign: other ids and field names.
    form_id, login, password = (
        ("signin", "identifiant", "secret")
        if changed
        else (
            "login-form",
            "email",
            "password",
        )
    )
    return layout(
        "Connexion",
        f"{_error(error)}"
        f'<form id="{form_id}" action="/login" method="post">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'
        f'<label>Adresse e-mail <input type="email" name="{login}" required></label>'
        f'<label>Mot de passe <input type="password" name="{password}" required></label>'
        '<button type="submit">Se connecter</button></form>',
    )


def verify_page(csrf: str, destination: str, *, error: str | None = None) -> str:
    return layout(
        "Vérification en deux étapes",
        f"{_error(error)}"
        f'<p class="destination">Un code de vérification a été envoyé {escape(destination)}.</p>'
        '<form id="verify-form" action="/verify" method="post">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'
        '<label>Code reçu <input name="code" inputmode="numeric" autocomplete="one-time-code">'
        "</label>"
        '<label><input type="checkbox" name="remember_device" value="1"> '
        "Se souvenir de cet appareil</label>"
        '<button type="submit">Valider</button></form>',
    )


def approval_page(destination: str) -> str:
    # Real portals poll with JavaScript; the refresh does the same for a person's browser.
    return layout(
        "Validation sur votre téléphone",
        '<div id="app-approval">'
        f'<p class="destination">Une demande de connexion a été envoyée {escape(destination)}.</p>'
        "<p>Approuvez-la dans l'application pour continuer. Cette page se met à jour "
        'toute seule.</p><meta http-equiv="refresh" content="3"></div>',
    )


def terms_page(csrf: str, company: str) -> str:
    return layout(
        "Nouvelles conditions générales",
        '<p class="terms">Nos conditions générales d\'utilisation ont changé. Veuillez les '
        "lire et les accepter pour accéder à votre espace.</p>"
        '<form id="terms-form" action="/terms" method="post">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'
        '<button type="submit" name="accept" value="1">J\'accepte</button></form>',
        company=company,
    )


def _date(invoice: DemoInvoice, style: DateStyle) -> str:
    return invoice.issued_on.isoformat() if style == "iso" else f"{invoice.issued_on:%d/%m/%Y}"


def invoices_page(
    invoices: Sequence[DemoInvoice],
    *,
    company: str,
    page: int,
    has_next: bool,
    date_style: DateStyle,
    malformed: bool = False,
) -> str:
    if not invoices:
        return layout("Mes factures", '<p class="no-invoices">Aucune facture.</p>', company=company)
    if malformed:
        # A broken template: cells shifted and the table cut off mid-row, as after a bad deploy.
        first = invoices[0]
        body = (
            '<table class="invoices"><tbody><tr class="invoice">'
            f'<td class="ref"><td class="date">{escape(first.reference)}'
            f'<td class="amount">{_date(first, date_style)}<td'
        )
        return layout("Mes factures", body, company=company)
    rows = "".join(
        f'<tr class="invoice"><td class="ref">{escape(i.reference)}</td>'
        f'<td class="date">{_date(i, date_style)}</td>'
        f'<td class="amount">{escape(euros(i.amount))}</td>'
        f'<td><a class="download" href="/invoices/{escape(i.reference)}.pdf">Télécharger</a>'
        "</td></tr>"
        for i in invoices
    )
    nav = f'<a rel="prev" href="/invoices?page={page - 1}">Précédent</a> ' if page > 1 else ""
    nav += f'<a rel="next" href="/invoices?page={page + 1}">Suivant</a>' if has_next else ""
    return layout(
        "Mes factures",
        '<table class="invoices"><thead><tr><th>Référence</th><th>Date</th><th>Montant TTC</th>'
        f"<th></th></tr></thead><tbody>{rows}</tbody></table>"
        f'<nav class="pagination">Page {page} {nav}</nav>',
        company=company,
    )


def message_page(title: str, message: str) -> str:
    return layout(title, f'<p class="message">{escape(message)}</p>')


def phone_page(texts: Sequence[tuple[str, str, str]]) -> str:
    """The demo's pretend phone: the texts it "sent", newest first, as (number, login, code).
    The demo has no SMS gateway; this page is where a person reads the code."""
    rows = "".join(
        f'<li class="sms">SMS au {escape(mask_phone(number))} ({escape(login)}) : '
        f'votre code Demo Supplier est <strong class="code">{escape(code)}</strong></li>'
        for number, login, code in texts
    )
    body = f'<ul id="texts">{rows}</ul>' if rows else '<p id="texts">Aucun SMS pour le moment.</p>'
    return layout("Téléphone de démonstration", body)


def mask_email(address: str) -> str:
    return "•••@" + address.rpartition("@")[2]


def mask_phone(number: str) -> str:
    return "••••" + number[-2:]
