"""IMAP mailboxes a workspace lets Courier watch. Their secret is sealed at rest."""

from __future__ import annotations

from pydantic import SecretStr
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import CredentialsMissing, NotFound
from core.models import Mailbox, MailboxCreate
from core.vault import Vault


async def add_mailbox(*, session: AsyncSession, vault: Vault, data: MailboxCreate) -> Mailbox:
    secret = data.secret.get_secret_value()
    if not secret:
        raise CredentialsMissing()
    mailbox = Mailbox.model_validate(
        data.model_dump(exclude={"secret"}) | {"secret_sealed": vault.seal(secret)}
    )
    session.add(mailbox)
    await session.flush()
    return mailbox


def read_secret(*, vault: Vault, mailbox: Mailbox) -> SecretStr:
    return SecretStr(vault.open(mailbox.secret_sealed))


async def get_mailbox(*, session: AsyncSession, workspace_id: int, mailbox_id: int) -> Mailbox:
    mailbox = await session.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.workspace_id != workspace_id:
        raise NotFound(kind="mailbox", ident=mailbox_id)
    return mailbox


async def list_mailboxes(*, session: AsyncSession, workspace_id: int) -> list[Mailbox]:
    query = select(Mailbox).where(Mailbox.workspace_id == workspace_id).order_by(col(Mailbox.id))
    return list((await session.exec(query)).all())
