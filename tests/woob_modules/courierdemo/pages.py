"""The Demo Supplier's pages, read with woob's pages and XPath (as woob's modules do)."""

from __future__ import annotations

from woob.browser.pages import HTMLPage, LoggedPage


def _text(page: HTMLPage, xpath: str) -> str:
    return " ".join(" ".join(page.doc.xpath(f"string({xpath})").split()).split())


class LoginPage(HTMLPage):
    is_here = '//form[@id="login-form"]'

    def login(self, username: str, password: str) -> None:
        form = self.get_form(xpath='//form[@id="login-form"]')
        form["email"] = username
        form["password"] = password
        form.submit()

    @property
    def error(self) -> str:
        return _text(self, '//*[contains(@class, "alert-error")]')


class CodePage(HTMLPage):
    is_here = '//form[@id="verify-form"]'

    @property
    def destination(self) -> str:
        return _text(self, '//p[contains(@class, "destination")]')

    @property
    def error(self) -> str:
        return _text(self, '//*[contains(@class, "alert-error")]')

    def send_code(self, code: str) -> None:
        form = self.get_form(xpath='//form[@id="verify-form"]')
        form["code"] = code
        form["remember_device"] = "on"
        form.submit()


class ApprovalPage(HTMLPage):
    is_here = '//*[@id="app-approval"]'


class TermsPage(LoggedPage, HTMLPage):
    is_here = '//form[@id="terms-form"]'


class InvoicesPage(LoggedPage, HTMLPage):
    def rows(self) -> list[tuple[str, str, str]]:
        found = []
        for row in self.doc.xpath('//table[contains(@class, "invoices")]//tr[@class="invoice"]'):
            cells = [
                " ".join(row.xpath(f'string(./td[@class="{name}"])').split())
                for name in ("ref", "date", "amount")
            ]
            found.append((cells[0], cells[1], cells[2]))
        return found

    @property
    def next_page(self) -> str | None:
        links = self.doc.xpath('//a[@rel="next"]/@href')
        return str(links[0]) if links else None
