"""Demo Supplier: a small supplier portal served locally, for the demo and the tests.

It behaves like the portals Courier's connectors log into: a login form with a CSRF
token, optional 2FA (a code "sent by SMS" and shown only to tests, or really mailed over
SMTP so Courier's gateway relays it), "remember this device", new terms to accept, a
paginated invoice table and real PDFs. Faults (latency, 500, 429, stalls, broken pages,
an HTML page instead of a PDF) are switched on through `Faults`.
"""

from __future__ import annotations

from courier.demo_supplier.app import create_app
from courier.demo_supplier.config import (
    DemoAccount,
    DemoConfig,
    DemoInvoice,
    Faults,
    SmtpTarget,
    sample_config,
    sample_invoices,
)
from courier.demo_supplier.server import RunningDemo, start_demo_supplier

__all__ = [
    "DemoAccount",
    "DemoConfig",
    "DemoInvoice",
    "Faults",
    "RunningDemo",
    "SmtpTarget",
    "create_app",
    "sample_config",
    "sample_invoices",
    "start_demo_supplier",
]
