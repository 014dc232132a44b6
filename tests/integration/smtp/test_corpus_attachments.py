"""Real mail from public test suites, sent over SMTP: its documents reach the inbox and the
logos its HTML shows do not (issue #16). The expected values are the corpus's own
(../shared/corpora/mail/expected.json), checked by hand there, not derived from Courier.
"""

from __future__ import annotations

import json
from typing import Any

from core.models import set_aside_images
from tests.corpora import MAIL, corpus_missing
from tests.integration.smtp.conftest import Gateway

#: The share of the corpus's documents that must be found (the issue's bar).
FOUND_AT_LEAST = 0.95


def _expected() -> dict[str, list[dict[str, Any]]]:
    path = MAIL / "expected.json"
    if not path.is_file():
        corpus_missing(MAIL)
    loaded: dict[str, list[dict[str, Any]]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _with_images_or_documents(expected: dict[str, list[dict[str, Any]]]) -> list[str]:
    return sorted(
        key
        for key, entries in expected.items()
        if any(e["document"] or e.get("cid_referenced") for e in entries)
    )


async def _send_all(gateway: Gateway, keys: list[str]) -> None:
    for key in keys:
        raw = (MAIL / key).read_bytes()
        # An MTA relays CRLF; the corpus keeps each file's own line ends.
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        refused = await gateway.send(raw, sender="sender@corpus.example")
        assert refused == {}, key
    # Each row is committed before its 250: draining now reads every message.
    await gateway.worker.drain()
    assert all(m.state != "received" for m in await gateway.inbound())


async def test_the_corpus_documents_are_filed_and_its_shown_logos_are_not(
    gateway: Gateway,
) -> None:
    expected = _expected()
    keys = _with_images_or_documents(expected)
    await _send_all(gateway, keys)
    filed = {d.sha256 for d in await gateway.documents()}
    wanted = {
        e["sha256"] for key in keys for e in expected[key] if e["document"] and e.get("sha256")
    }
    decorations = {
        e["sha256"]
        for key in keys
        for e in expected[key]
        if e.get("cid_referenced") and not e["document"] and e.get("sha256")
    } - wanted  # the same bytes may be a document elsewhere
    found = wanted & filed
    assert len(found) / len(wanted) >= FOUND_AT_LEAST, sorted(wanted - filed)
    assert decorations & filed == set()
    # What was set aside is on record, with its name and size, for the user to keep.
    recorded = [image for m in await gateway.inbound() for image in set_aside_images(m)]
    shown = {(image.filename, image.size) for image in recorded if image.reason == "shown_in_html"}
    assert ("pirates.jpg", 28375) in shown
    assert ("Christopher-Lloyd-as-Doc-Brown.jpg", 156223) in shown
