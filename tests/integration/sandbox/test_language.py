"""`courier sandbox --language fr` on a sandbox made earlier in English (issue #14, finding
15). The workspace's locale wins over the person's Telegram language, so asking for French
switches the sandbox's workspace itself, says so, and later runs keep it."""

from __future__ import annotations

from pathlib import Path

from bot.i18n import texts_for
from core.models import Locale
from courier.runtime import open_runtime
from courier.sandbox.launch import Arrival, invite_person, sandbox_settings
from tests.conftest import make_settings


async def _arrive(home: Path, language: str | None) -> Arrival:
    settings = sandbox_settings(
        make_settings(home / "var"), data_dir=home / "sandbox", api_url="http://127.0.0.1:9"
    )
    async with open_runtime(settings) as rt:
        return await invite_person(rt, language=language)


async def test_asking_for_french_switches_an_english_sandbox(tmp_path: Path) -> None:
    first = await _arrive(tmp_path, None)
    assert first.workspace.locale == Locale.EN
    assert first.code is not None
    assert first.was is None

    french = await _arrive(tmp_path, "fr")
    assert french.workspace.locale == Locale.FR
    assert french.was == Locale.EN  # the banner says it was switched
    # The person's Telegram speaks English, and the bot answers in the workspace's French.
    texts = texts_for(workspace_locale=french.workspace.locale, language_code="en")
    assert texts.language == "fr"

    kept = await _arrive(tmp_path, None)
    assert kept.workspace.locale == Locale.FR
    assert kept.was is None


async def test_a_new_sandbox_starts_in_the_language_asked(tmp_path: Path) -> None:
    arrival = await _arrive(tmp_path, "fr")
    assert arrival.workspace.locale == Locale.FR
    assert arrival.was is None
