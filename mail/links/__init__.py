"""Invoices that arrive as a link: the billing hosts Courier downloads from, and how.

A mail's links are fetched by the mail worker, after the 250 and outside the database
transaction (mail/worker.py), through `LinkFetcher`; the pipeline's `LinkedInvoices`
files what came back. Links to other hosts stay links (the pipeline's `LinkOnly`).
"""

from __future__ import annotations

from mail.links.errors import LinkRefused, Reason
from mail.links.fetcher import (
    FetchedFile,
    FetchLimits,
    HttpsLinkFetcher,
    LinkFetcher,
    link_fetcher,
)
from mail.links.guard import AddressPolicy, LoopResolver, Resolver
from mail.links.hosts import BillingHost, BillingHosts, billing_hosts

__all__ = [
    "AddressPolicy",
    "BillingHost",
    "BillingHosts",
    "FetchLimits",
    "FetchedFile",
    "HttpsLinkFetcher",
    "LinkFetcher",
    "LinkRefused",
    "LoopResolver",
    "Reason",
    "Resolver",
    "billing_hosts",
    "link_fetcher",
]
