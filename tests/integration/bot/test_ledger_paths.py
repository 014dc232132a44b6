"""Security issue #13, part 1, through the chat: a path typed as the ledger read any file
on the server and quoted it (the vault key, /etc/hostname), told which files exist, and
let one workspace link another's ledger. Now a ledger is only ever picked from, created
in or sent to the workspace's folder under the ledger root, and nothing outside it is
opened, listed or quoted."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlmodel import select

from core.accounting.errors import LedgerLinkedElsewhere
from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.models import Integration, IntegrationState, Workspace
from core.services.accounting import Accounting
from core.services.authorisations import connect
from courier.sandbox.chat import BotMessage, TelegramUser
from tests.integration.accounting.conftest import LEDGER
from tests.integration.bot.conftest import Harness

#: What the vault key file looks like; no chat message may ever show any of it.
KEY = "a5VUZXRD_Hx1sT0pS3cr3tK3yThatDecryptsEverything0000="
HOSTNAME = Path("/etc/hostname").read_text(encoding="utf-8").strip()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The server as the attacker found it: `courier run` started in its folder, the key
    at var/secret.key, the ledger root at var/ledgers."""
    data = tmp_path / "var"
    data.mkdir(exist_ok=True)
    (data / "secret.key").write_text(KEY + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return data


def ledgers(server: Path, slug: str) -> Path:
    folder = server / "ledgers" / slug
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def answer(person: TelegramUser) -> BotMessage:
    """The bot's verdict, past its "Checking the link with Beancount…"."""
    while True:
        reply = await person.wait_for_reply()
        if not reply.text.endswith("…"):
            return reply


async def ask_for_a_ledger(person: TelegramUser) -> BotMessage:
    await person.say("/integration")
    await person.press("Beancount", message=await person.wait_for_reply())
    await person.wait_for_edit()
    return await person.wait_for_reply()


async def linked(harness: Harness, workspace: Workspace) -> Integration | None:
    async with harness.db.read() as session:
        query = select(Integration).where(
            Integration.workspace_id == workspace.id,
            Integration.state != IntegrationState.DISCONNECTED,
        )
        return (await session.exec(query)).first()


def never_shown(person: TelegramUser, *secrets: str) -> None:
    for said in person.messages:
        for secret in secrets:
            assert secret not in said.text, f"the chat showed {secret!r}: {said.text!r}"


async def test_a_path_typed_as_the_ledger_is_never_opened(server: Path, harness: Harness) -> None:
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    hostname = HOSTNAME

    # The attack as reported: the key's path, relative to where Courier runs.
    await ask_for_a_ledger(marie)
    await marie.say("var/secret.key")
    refused = await answer(marie)
    never_shown(marie, KEY[:12], "Invalid token")
    assert "is not a ledger name" in refused.text

    # Absolute paths fare no better, and an existing file answers as a missing one does.
    said = {}
    for typed in (str(server / "secret.key"), "/etc/hostname", "/etc/no-such-file-here"):
        await marie.say(typed)
        said[typed] = re.sub(r"“.*?”", "“…”", (await answer(marie)).text)
    assert len(set(said.values())) == 1, said
    assert "does not exist" not in said["/etc/no-such-file-here"]
    never_shown(marie, KEY[:12], hostname)
    assert await linked(harness, bakery) is None


async def test_links_in_the_folder_lead_nowhere_outside_it(server: Path, harness: Harness) -> None:
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    folder = ledgers(server, "boulangerie")
    (folder / "main.beancount").write_text(LEDGER, encoding="utf-8")
    # Links someone left in the folder: to the key, and up and out again.
    os.symlink(server / "secret.key", folder / "key.beancount")
    os.symlink("../../secret.key", folder / "up.beancount")

    ask = await ask_for_a_ledger(marie)
    assert ask.labels == ["main.beancount", "New ledger", "Cancel"]  # the links are not offered
    for name in ("key.beancount", "up", "../../secret.key", "../boulangerie/../../secret.key"):
        await marie.say(name)
        refused = await answer(marie)
        assert "leads outside" in refused.text or "is not a ledger name" in refused.text
    never_shown(marie, KEY[:12], "Invalid token")
    assert await linked(harness, bakery) is None


async def test_a_ledger_sent_cannot_include_or_test_files_outside_its_folder(
    server: Path, harness: Harness
) -> None:
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    hostname = HOSTNAME
    attempts = {
        "key.beancount": f'include "{server / "secret.key"}"\n',
        "relative.beancount": 'include "../../secret.key"\n',
        "glob.beancount": 'include "/etc/host*"\n',
        "probe.beancount": (
            '2026-01-01 open Assets:Cash\n2026-01-02 document Assets:Cash "/etc/x"\n'
        ),
        "listing.beancount": 'option "documents" "/etc"\n',
        "plugin.beancount": 'plugin "json"\n',
    }
    for filename, body in attempts.items():
        await ask_for_a_ledger(marie)
        await marie.upload(body.encode(), filename=filename)
        refused = await answer(marie)
        assert "cannot be used" in refused.text, refused.text
        assert "/etc" not in refused.text
    never_shown(marie, KEY[:12], hostname, "Invalid token", "does not exist")
    assert await linked(harness, bakery) is None


async def test_a_ledger_is_one_workspace_s_books(
    server: Path, harness: Harness, tmp_path: Path
) -> None:
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    garage, other = await harness.workspace("Garage")
    zoe = await harness.member("Zoe", other)
    theirs = ledgers(server, "garage") / "main.beancount"
    theirs.write_text(LEDGER, encoding="utf-8")

    # Zoe links the garage's ledger from the chat.
    await zoe.press("main.beancount", message=await ask_for_a_ledger(zoe))
    assert "Linked to Beancount" in (await answer(zoe)).text

    # Marie cannot name it, nor reach it through a link in her folder.
    os.symlink(theirs, ledgers(server, "boulangerie") / "garage.beancount")
    await ask_for_a_ledger(marie)
    for typed in ("../garage/main.beancount", str(theirs), "garage.beancount"):
        await marie.say(typed)
        assert (
            "cannot be used" in (refused := await answer(marie)).text
            or "is not a ledger name" in refused.text
        )
    assert await linked(harness, bakery) is None

    # Even the operator cannot give the same books to a second workspace.
    providers = ProviderRegistry(Settings(_env_file=None, data_dir=tmp_path / "elsewhere"))
    acc = Accounting(
        db=harness.db,
        vault=harness.vault,
        store=harness.store,
        providers=providers,
        callback_url="http://127.0.0.1:8780/oauth/callback",
    )
    assert bakery.id is not None
    try:
        with pytest.raises(LedgerLinkedElsewhere):
            await connect(
                acc,
                workspace_id=bakery.id,
                actor=None,
                provider_name="beancount",
                secret=str(theirs),
            )
    finally:
        await providers.aclose()
    assert await linked(harness, bakery) is None
    assert garage.id is not None


async def test_a_ledger_is_created_or_sent_in_the_chat(server: Path, harness: Harness) -> None:
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    folder = ledgers(server, "boulangerie")

    ask = await ask_for_a_ledger(marie)
    assert ask.labels == ["New ledger", "Cancel"]
    await marie.press("New ledger", message=ask)
    assert "called" in (await marie.wait_for_reply()).text
    await marie.say("books")
    done = await answer(marie)
    assert "Linked to Beancount." in done.text
    assert "Boulangerie" in done.text  # the new ledger's title
    assert "Accounts: 2" in done.text
    created = folder / "books.beancount"
    assert created.stat().st_mode & 0o777 == 0o600
    link = await linked(harness, bakery)
    assert link is not None
    assert link.company_id == str(created.resolve())

    await marie.press("Change software", message=done)
    await marie.press("Beancount", message=await marie.wait_for_reply())
    await marie.wait_for_edit()
    ask = await marie.wait_for_reply()
    assert ask.labels == ["books.beancount", "New ledger", "Cancel"]
    await marie.upload(LEDGER.encode(), filename="dupont.beancount")
    assert "Linked to Beancount." in (await answer(marie)).text
    assert (folder / "dupont.beancount").read_text(encoding="utf-8") == LEDGER
    link = await linked(harness, bakery)
    assert link is not None
    assert (link.company_name, link.company_id) == (
        "Boulangerie Dupont",
        str((folder / "dupont.beancount").resolve()),
    )
