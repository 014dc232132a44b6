"""What mail files is handed to the auto-publish hook, once its transaction committed."""

from __future__ import annotations

from core.models import Document
from tests.integration.smtp.conftest import Gateway, fixture_bytes


async def test_each_document_mail_files_reaches_the_hook_after_commit(gateway: Gateway) -> None:
    seen: list[tuple[int, str | None]] = []

    async def hook(document_id: int) -> None:
        # A fresh session sees the row: the batch's transaction committed before the hook.
        async with gateway.db.read() as session:
            document = await session.get(Document, document_id)
        seen.append((document_id, document.filename if document else None))

    gateway.worker.on_filed = hook
    assert await gateway.send(fixture_bytes("zip_two_pdfs.eml")) == {}
    await gateway.worker.drain()
    documents = await gateway.documents()
    assert sorted(seen) == sorted((d.id, d.filename) for d in documents if d.id is not None)
    assert len(seen) == 2


async def test_a_hook_that_fails_loses_nothing(gateway: Gateway) -> None:
    async def broken(document_id: int) -> None:
        raise RuntimeError("the accounting side is down")

    gateway.worker.on_filed = broken
    assert await gateway.send(fixture_bytes("zip_two_pdfs.eml")) == {}
    await gateway.worker.drain()
    assert len(await gateway.documents()) == 2
    [message] = await gateway.inbound()
    assert message.state == "delivered"
