"""`RecipeConnector`: a `SupplierConnector` for form-login portals, driven by a `Recipe`.

The connector plays the user's browser: it loads the login form, copies its hidden fields
(the CSRF token among them), posts the credentials, answers a 2FA page, and walks the
invoice list page by page. Every page is classified by the recipe's probes, and whatever
it cannot place becomes `LayoutChanged`, so a redesigned portal marks the connection
"broken" instead of "wrong password".
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
from selectolax.lexbor import LexborNode

from core.filenames import safe_filename
from core.sniff import sniff_content_type
from core.suppliers.connector import (
    ActionRequired,
    ApprovalDenied,
    ApprovalRequest,
    CodeRejected,
    CodeRequest,
    Credentials,
    Download,
    InvalidDownload,
    InvoiceRef,
    LayoutChanged,
    LoggedIn,
    LoginRefused,
    SignInStep,
    SupplierUnavailable,
)
from core.suppliers.http import HttpLimits, Throttle, build_client, export_cookies, import_cookies
from core.suppliers.http import request as http_request
from core.suppliers.pool import HttpPool, lease
from core.suppliers.recipes.model import Recipe, TwoFactorStep
from core.suppliers.recipes.page import Form, Page, parse_amount, parse_date

logger = logging.getLogger(__name__)

# Readers look for the end marker near the end; a cut-off download has none.
_PDF_TAIL = 8192


class RecipeConnector:
    def __init__(
        self,
        recipe: Recipe,
        *,
        base_url: str | None = None,
        limits: HttpLimits | None = None,
        throttle: Throttle | None = None,
        pool: HttpPool | None = None,
        remember_device: bool = True,
    ) -> None:
        """`pool`: the process's connections, shared with the other runs; without it the
        connector keeps a pool of its own, closed with it."""
        base = base_url or recipe.base_url
        if not base:
            raise ValueError(f"recipe {recipe.key!r} has no base_url and none was given")
        self.recipe = recipe
        self._base = httpx.URL(base)
        self._limits = limits or HttpLimits()
        self._throttle = throttle
        self._remember_device = remember_device
        self._client = build_client(limits=self._limits, transport=lease(pool))
        self._verify: Page | None = None  # the 2FA page that awaits a code
        #: Rows on the list pages read, whatever their date: 0 only for an empty list.
        self.listed: int | None = None

    # -- SupplierConnector ------------------------------------------------------------

    async def restore(self, state: dict[str, Any]) -> bool:
        cookies = state.get("cookies")
        if not isinstance(cookies, dict) or not import_cookies(self._client.cookies, cookies):
            return False
        page = await self._fetch("GET", self._url(self.recipe.session.url))
        self._check_actions(page)
        return page.status < 400 and page.matches(self.recipe.session.logged_in)

    async def login(self, credentials: Credentials) -> SignInStep:
        step = self.recipe.login
        page = await self._fetch("GET", self._url(step.url))
        form = self._form(page, step.form, "login form")
        for name in (step.login_field, step.password_field, step.csrf_field):
            if name is not None and name not in form.names:
                raise LayoutChanged(f"the login form on {page.path} has no field {name!r}")
        data = {**form.fields, **dict(step.extra_fields)}
        data[step.login_field] = credentials.login
        data[step.password_field] = credentials.password.get_secret_value()
        result = await self._submit(page, form, data)
        if result.matches(step.failure):
            raise LoginRefused(result.probe_text(step.failure) or "the site refused the login")
        self._accepted(page, result)
        return self._next_step(result, "the page after the password")

    async def submit_code(self, code: str) -> SignInStep:
        two_factor, page = self.recipe.two_factor, self._verify
        if two_factor is None or page is None:
            raise CodeRejected("no code is awaited: log in first")
        form = self._form(page, two_factor.form, "code form")
        if two_factor.code_field not in form.names:
            raise LayoutChanged(f"the code form has no field {two_factor.code_field!r}")
        data = {**form.fields, two_factor.code_field: code.strip()}
        remember = two_factor.remember_field
        if self._remember_device and remember is not None and remember in form.checkboxes:
            data[remember] = form.checkboxes[remember]
        result = await self._submit(page, form, data)
        self._verify = None
        if not result.matches(two_factor.rejected):
            self._accepted(page, result)
        if result.matches(two_factor.detect):
            self._verify = result  # the site may take another code on the new page
            if result.matches(two_factor.rejected):
                raise CodeRejected(result.probe_text(two_factor.rejected) or "code refused")
            return self._code_request(two_factor, result)
        if result.form(self.recipe.login.form) is not None:
            # Too many attempts or an expired challenge: the site starts over.
            message = result.probe_text(self.recipe.login.failure)
            raise CodeRejected(message or "the site asked to log in again")
        return self._next_step(result, "the page after the code")

    async def poll_approval(self) -> SignInStep | None:
        two_factor = self.recipe.two_factor
        approval = two_factor.approval if two_factor is not None else None
        if approval is None:
            raise ApprovalDenied(f"{self.recipe.key} never asks for an approval")
        page = await self._fetch("GET", self._url(approval.poll_url))
        if page.matches(approval.denied):
            raise ApprovalDenied(page.probe_text(approval.denied) or "the approval was refused")
        if page.form(self.recipe.login.form) is not None:
            raise ApprovalDenied("the site asked to log in again")
        if page.matches(approval.detect):
            return None  # the owner has not answered on the phone yet
        self._accepted(page, page)
        return self._next_step(page, "the page after the approval")

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        spec = self.recipe.invoices
        url = self._url(spec.url.format(page=spec.first_page))
        seen: set[str] = set()
        listed: set[str] = set()
        self.listed = None
        for index in range(spec.max_pages):
            page = await self._page(url)
            rows = page.tree.css(spec.row)
            if not rows:
                if index > 0 or (spec.empty is not None and page.matches(spec.empty)):
                    self.listed = len(listed)
                    return
                raise LayoutChanged(f"no invoice rows ({spec.row}) on {page.path}")
            # Parse the whole page before yielding: a broken row means a broken page.
            refs = [self._row(page, row, number) for number, row in enumerate(rows, 1)]
            # Counted before the date filter: older rows still show the list is not empty.
            listed.update(ref.reference for ref in refs)
            self.listed = len(listed)
            reached_since = False
            for ref in refs:
                if since is not None and ref.issued_on < since:
                    reached_since = True  # lists are newest first: older pages are older
                elif ref.reference not in seen:
                    seen.add(ref.reference)
                    yield ref
            next_url = self._next_page(page, spec.first_page + index + 1)
            if reached_since or next_url is None:
                return
            url = next_url
        logger.warning("%s: stopped after %d invoice pages", self.recipe.key, spec.max_pages)

    async def download(self, invoice: InvoiceRef) -> Download:
        url = invoice.extra.get("download_url")
        if not isinstance(url, str):
            raise InvalidDownload(f"invoice {invoice.reference} has no download link")
        response = await self._request("GET", httpx.URL(url))
        if response.status_code >= 400:
            raise InvalidDownload(f"the download answered {response.status_code}")
        content = response.content
        kind = _content_type(content)
        if kind == "an HTML page":
            page = Page(response.url, response.status_code, response.text)
            if page.form(self.recipe.login.form) is not None:
                raise SupplierUnavailable(f"{self.recipe.key}: logged out during the run")
        if kind not in self.recipe.download.accept:
            raise InvalidDownload(f"expected {', '.join(self.recipe.download.accept)}, got {kind}")
        name = self.recipe.download.filename.format(reference=invoice.reference)
        return Download(content=content, filename=safe_filename(name, default="facture.pdf"))

    async def save(self) -> dict[str, Any]:
        return {"recipe": self.recipe.key, "cookies": export_cookies(self._client.cookies)}

    async def close(self) -> None:
        await self._client.aclose()

    # -- pages --------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> httpx.URL:
        return self._base.join(path_or_url)

    async def _request(self, method: str, url: httpx.URL, **kwargs: Any) -> httpx.Response:
        limits = self._limits
        return await http_request(
            self._client,
            method,
            url,
            supplier=self.recipe.key,
            retries=limits.retries,
            backoff=limits.backoff,
            max_wait=limits.max_wait,
            throttle=self._throttle,
            **kwargs,
        )

    async def _fetch(self, method: str, url: httpx.URL, **kwargs: Any) -> Page:
        response = await self._request(method, url, **kwargs)
        return Page(response.url, response.status_code, response.text)

    async def _submit(self, page: Page, form: Form, data: dict[str, str]) -> Page:
        # Browsers send these, and CSRF defences often check them.
        origin = f"{page.url.scheme}://{page.url.netloc.decode('ascii')}"
        headers = {"Referer": str(page.url), "Origin": origin}
        if form.method == "POST":
            result = await self._fetch("POST", form.action, data=data, headers=headers)
        else:
            result = await self._fetch("GET", form.action, params=data, headers=headers)
        return result

    @staticmethod
    def _accepted(form_page: Page, result: Page) -> None:
        """A form refused outright (a CSRF check, a renamed field) means the site changed.
        Called after the failure probes: some sites answer a wrong password with 401."""
        if result.status >= 400:
            where = form_page.path
            raise LayoutChanged(f"the site refused the form on {where} ({result.status})")

    async def _page(self, url: httpx.URL) -> Page:
        """A page behind the login: logged-out and blocking pages become typed errors."""
        page = await self._fetch("GET", url)
        self._check_actions(page)
        if page.status in {401, 403} or page.form(self.recipe.login.form) is not None:
            raise SupplierUnavailable(f"{self.recipe.key}: logged out during the run")
        if page.status >= 400:
            raise LayoutChanged(f"{page.path} answered {page.status}")
        return page

    def _form(self, page: Page, selector: str, what: str) -> Form:
        form = page.form(selector)
        if form is None:
            raise LayoutChanged(f"no {what} ({selector}) on {page.path}")
        return form

    def _check_actions(self, page: Page) -> None:
        for rule in self.recipe.actions:
            if page.matches(rule.detect):
                raise ActionRequired(rule.reason)

    def _next_step(self, page: Page, where: str) -> SignInStep:
        """After a password, a code or an approval: another step, or signed in."""
        two_factor = self.recipe.two_factor
        if two_factor is not None:
            approval = two_factor.approval
            if approval is not None and page.matches(approval.detect):
                masked, prompt = self._destination(two_factor, page)
                return ApprovalRequest(masked, prompt, approval.expires_in)
            if page.matches(two_factor.detect):
                self._verify = page
                return self._code_request(two_factor, page)
        return self._signed_in(page, where)

    def _signed_in(self, page: Page, where: str) -> LoggedIn:
        self._check_actions(page)
        if not page.matches(self.recipe.login.success):
            raise LayoutChanged(f"{where} ({page.path}) matched no expected outcome")
        label = self.recipe.login.account_label
        return LoggedIn(account_label=page.value(label) if label else None)

    @staticmethod
    def _destination(step: TwoFactorStep, page: Page) -> tuple[str | None, str | None]:
        if step.destination is None:
            return None, None
        return page.value(step.destination), page.node_text(step.destination.selector)

    def _code_request(self, step: TwoFactorStep, page: Page) -> CodeRequest:
        masked, prompt = self._destination(step, page)
        haystack = (prompt or page.text()).casefold()
        channel = next(
            (rule.channel for rule in step.channels if rule.contains.casefold() in haystack),
            step.default_channel,
        )
        return CodeRequest(channel, masked, prompt, step.expires_in)

    def _row(self, page: Page, row: LexborNode, number: int) -> InvoiceRef:
        spec = self.recipe.invoices
        where = f"row {number} on {page.path}"
        reference = page.value(spec.reference, row)
        raw_date = page.value(spec.date, row)
        link = page.value(spec.download, row)
        if not reference or not raw_date or not link:
            missing = "reference" if not reference else "date" if not raw_date else "download"
            raise LayoutChanged(f"{where}: no {missing} column")
        try:
            issued_on = parse_date(raw_date, spec.date_formats)
            amount, currency = (None, None)
            if spec.amount is not None and (raw_amount := page.value(spec.amount, row)):
                amount, currency = parse_amount(raw_amount, spec.decimal_separator)
        except ValueError as err:
            raise LayoutChanged(f"{where}: {err}") from err
        return InvoiceRef(
            reference=reference,
            issued_on=issued_on,
            amount=amount,
            currency=currency or spec.currency,
            extra={"download_url": str(page.link(link))},
        )

    def _next_page(self, page: Page, number: int) -> httpx.URL | None:
        spec = self.recipe.invoices
        if spec.next is None:  # no link to follow: try the next number until a page is empty
            return self._url(spec.url.format(page=number))
        node = page.tree.css_first(spec.next)
        if node is None:
            return None
        href = node.attributes.get("href")
        return page.link(href) if href else self._url(spec.url.format(page=number))


def _content_type(content: bytes) -> str:
    if content.lstrip()[:5] == b"%PDF-":
        return "application/pdf" if b"%%EOF" in content[-_PDF_TAIL:] else "truncated PDF"
    kind = sniff_content_type(content)
    return "an HTML page" if kind == "text/html" else kind
