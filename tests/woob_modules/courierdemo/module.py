"""The module as woob sees it: its config, and the document capability over the browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from woob.capabilities.bill import Bill, CapDocument, DocumentTypes, Subscription
from woob.tools.backend import BackendConfig, Module
from woob.tools.value import Value, ValueBackendPassword, ValueTransient

from .browser import DemoBrowser


class CourierDemoModule(Module, CapDocument):
    NAME = "courierdemo"
    DESCRIPTION = "Demo Supplier (Courier's tests)"
    MAINTAINER = "Courier"
    EMAIL = "tests@courier.invalid"
    LICENSE = "LGPLv3+"
    VERSION = "3.7"

    CONFIG = BackendConfig(
        Value("base_url", label="The Demo Supplier's address"),
        ValueBackendPassword("login", label="Email", masked=False),
        ValueBackendPassword("password", label="Password"),
        ValueTransient("code", label="The code the site sent"),
        ValueTransient("resume"),
        ValueTransient("request_information"),
    )
    BROWSER = DemoBrowser
    accepted_document_types = (DocumentTypes.BILL,)

    def create_default_browser(self) -> DemoBrowser:
        browser: DemoBrowser = self.create_browser(self.config)
        return browser

    def iter_subscription(self) -> Iterator[Subscription]:
        subscription = Subscription("demo")
        subscription.label = "Demo Supplier"
        yield subscription

    def iter_documents(self, subscription: Any) -> Iterator[Bill]:
        yield from self.browser.iter_bills()

    def download_document(self, document: Any) -> bytes:
        reference = document if isinstance(document, str) else document.id
        content: bytes = self.browser.download(reference)
        return content
