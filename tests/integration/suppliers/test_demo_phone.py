"""A newcomer logs into the Demo Supplier's SMS account by hand: the demo has no SMS
gateway, so its pretend phone (GET /phone) shows the text a real phone would get."""

from __future__ import annotations

import re

import httpx

from courier.demo_supplier.server import RunningDemo
from tests.integration.suppliers.conftest import SMS


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


async def test_the_sms_code_is_read_on_the_demo_phone_and_opens_the_account(
    demo: RunningDemo,
) -> None:
    async with httpx.AsyncClient(base_url=demo.url, follow_redirects=True) as browser:
        empty = await browser.get("/phone")
        assert "Aucun SMS pour le moment" in empty.text

        login = await browser.get("/login")
        asked = await browser.post(
            "/login",
            data={"csrf_token": _csrf(login.text), "email": SMS.login, "password": SMS.password},
        )
        assert "Vérification en deux étapes" in asked.text

        phone = await browser.get("/phone")
        assert phone.status_code == 200
        assert SMS.login in phone.text
        assert "••••" + SMS.phone[-2:] in phone.text
        code = re.search(r'<strong class="code">(\d+)</strong>', phone.text)
        assert code is not None, phone.text

        done = await browser.post(
            "/verify", data={"csrf_token": _csrf(asked.text), "code": code.group(1)}
        )
        assert done.status_code == 200
        assert "/invoices" in str(done.url) or "/terms" in str(done.url), done.url
