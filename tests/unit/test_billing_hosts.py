"""The shipped list of billing hosts, and which addresses a link may lead to."""

from __future__ import annotations

import pytest

from mail.links import AddressPolicy, billing_hosts


def test_a_stripe_hosted_invoice_leads_to_its_pdf_with_its_query_kept() -> None:
    link = "https://invoice.stripe.com/i/acct_1Abc/live_XyZ?s=em"
    entry = billing_hosts().find(link)
    assert entry is not None
    assert (entry.vendor, entry.how) == ("Stripe", "rewrite")
    assert entry.rewritten(link) == "https://pay.stripe.com/invoice/acct_1Abc/live_XyZ/pdf?s=em"


@pytest.mark.parametrize(
    "link",
    [
        "http://invoice.stripe.com/i/acct_1Abc/live_XyZ",  # not https
        "https://invoice.stripe.com:8443/i/acct_1Abc/live_XyZ",  # another port
        "https://user@invoice.stripe.com/i/acct_1Abc/live_XyZ",  # a user part
        "https://invoice.stripe.com.attacker.example/i/acct_1Abc/live_XyZ",  # lookalike
        "https://stripe.com/i/acct_1Abc/live_XyZ",  # listed vendor, unlisted host
        "https://invoice.stripe.com/login",  # listed host, no invoice path
        "https://chargebee.com/invoices/1",  # a wildcard covers subdomains only
    ],
)
def test_links_off_the_list_are_not_fetched(link: str) -> None:
    assert billing_hosts().find(link) is None


def test_every_vendor_the_issue_names_is_listed() -> None:
    vendors = {entry.vendor for entry in billing_hosts().entries}
    assert {"Stripe", "Paddle", "Chargebee", "Zoho", "FastSpring"} <= vendors


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.8",
        "172.16.4.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_loopback_private_and_link_local_addresses_are_refused(address: str) -> None:
    assert not AddressPolicy().permits(address)


def test_public_addresses_pass_and_the_test_setting_opens_only_its_networks() -> None:
    assert AddressPolicy().permits("93.184.216.34")
    assert AddressPolicy().permits("2606:2800:220:1:248:1893:25c8:1946")
    tests_only = AddressPolicy.allowing(["127.0.0.0/8"])
    assert tests_only.permits("127.0.0.1")
    assert not tests_only.permits("10.0.0.8")
    assert not tests_only.permits("169.254.169.254")
