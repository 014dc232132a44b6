"""The Demo Supplier's sign-in as a woob `TwoFactorBrowser`: a code (SMS or mail) is a
`SentOTPQuestion`, a phone approval an `AppValidation` polled through `resume`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from woob.browser import URL
from woob.browser.mfa import TwoFactorBrowser
from woob.capabilities.bill import Bill
from woob.exceptions import (
    ActionNeeded,
    AppValidation,
    AppValidationCancelled,
    AppValidationExpired,
    BrowserIncorrectPassword,
    OTPSentType,
    ParseError,
    SentOTPQuestion,
)

from .pages import ApprovalPage, CodePage, InvoicesPage, LoginPage, TermsPage

#: How long `handle_polling` waits for the phone, as real modules do (a few minutes).
POLL_SECONDS = 60.0


class DemoBrowser(TwoFactorBrowser):
    login_page = URL(r"/login$", LoginPage)
    code_page = URL(r"/verify$", CodePage)
    approval_page = URL(r"/verify$", ApprovalPage)
    # A refused or expired approval answers /verify with the login form again.
    refused_page = URL(r"/verify$", LoginPage)
    terms_page = URL(r"/terms$", TermsPage)
    invoices_page = URL(r"/invoices(\?.*)?$", InvoicesPage)

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        self.BASEURL = config["base_url"].get()
        super().__init__(config, config["login"].get(), config["password"].get(), *args, **kwargs)
        self.AUTHENTICATION_METHODS = {"code": self.handle_code, "resume": self.handle_polling}

    def clear_init_cookies(self) -> None:
        # woob clears every cookie before a login; the site's "remember this device"
        # cookie is what spares the next code, so it stays.
        for name in [c.name for c in self.session.cookies if c.name != "demo_device"]:
            del self.session.cookies[name]

    def init_login(self) -> None:
        self.login_page.go()
        self.page.login(self.username, self.password)
        if self.login_page.is_here():
            raise BrowserIncorrectPassword(self.page.error)
        self._signed_in_or_asked()

    def _signed_in_or_asked(self) -> None:
        if self.code_page.is_here():
            destination = self.page.destination
            medium = OTPSentType.EMAIL if "e-mail" in destination else OTPSentType.SMS
            raise SentOTPQuestion(
                "code",
                medium_type=medium,
                medium_label=destination.rsplit(" ", 1)[-1].rstrip("."),
                message="Code de vérification",
            )
        if self.approval_page.is_here():
            raise AppValidation(message="Validez la connexion sur votre téléphone")
        if self.terms_page.is_here():
            raise ActionNeeded("Acceptez les conditions générales")
        if not self.invoices_page.is_here():
            raise ParseError("unknown page after sign-in")

    def handle_code(self) -> None:
        if not self.code_page.is_here():
            self.code_page.go()
        self.page.send_code(self.code)
        if self.code_page.is_here():
            raise BrowserIncorrectPassword(self.page.error)
        if self.login_page.is_here():
            raise BrowserIncorrectPassword(self.page.error)
        self._signed_in_or_asked()

    def handle_polling(self) -> None:
        deadline = time.monotonic() + POLL_SECONDS
        while time.monotonic() < deadline:
            self.location("/verify")
            if self.login_page.is_here() or self.refused_page.is_here():
                raise AppValidationCancelled(self.page.error)
            if not self.approval_page.is_here():
                self._signed_in_or_asked()
                return
            time.sleep(0.1)
        raise AppValidationExpired("the phone did not answer")

    @property
    def logged(self) -> bool:
        return self.page is not None and bool(self.page.logged)

    def iter_bills(self) -> Iterator[Bill]:
        url: str | None = "/invoices?page=1"
        while url:
            self.location(url)
            if self.login_page.is_here():
                # The session ended: sign in again, as woob's modules do.
                self.do_login()
                self.location(url)
            if not self.invoices_page.is_here():
                raise ParseError("the invoices page is not there")
            for reference, day, amount in self.page.rows():
                yield self._bill(reference, day, amount)
            url = self.page.next_page

    @staticmethod
    def _bill(reference: str, day: str, amount: str) -> Bill:
        if not reference:
            raise ParseError("an invoice without a reference")
        bill = Bill()
        bill.id = reference
        try:
            bill.date = datetime.strptime(day, "%d/%m/%Y").date()
            figures = "".join(ch for ch in amount if ch.isdigit() or ch in ",.-")
            bill.total_price = Decimal(figures.replace(",", "."))
        except (ValueError, InvalidOperation) as err:
            raise ParseError(f"row {reference!r} is not an invoice") from err
        bill.number = reference
        bill.currency = "EUR"
        bill.format = "pdf"
        bill.label = f"Facture {reference}"
        return bill

    def download(self, reference: str) -> bytes:
        response = self.open(f"/invoices/{reference}.pdf")
        content: bytes = response.content
        return content
