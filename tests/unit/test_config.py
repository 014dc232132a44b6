"""Settings have embedded defaults, and a bad one is one clear line without its value."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.errors import ConfigInvalid
from courier.texts import render_error


def test_defaults_put_everything_under_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = load_settings()
    assert settings.db_url.render_as_string() == "sqlite+aiosqlite:///var/courier.db"
    assert settings.documents_dir == Path("var/documents")
    assert settings.key_file == Path("var/secret.key")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COURIER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURIER_MAIL_DOMAIN", "In.Example.COM")
    settings = load_settings()
    assert settings.documents_dir == tmp_path / "data" / "documents"
    assert settings.mail_domain == "in.example.com"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql+asyncpg://u:hunter2@[::1", "could not parse"),
        ("mysql://u:hunter2@db/x", "unsupported driver"),
    ],
)
def test_a_bad_database_url_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, reason: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COURIER_DATABASE_URL", url)
    with pytest.raises(ConfigInvalid) as caught:
        load_settings()
    line = render_error(caught.value)
    assert line.startswith("COURIER_DATABASE_URL: ")
    assert reason in line
    assert "hunter2" not in line
    assert "\n" not in line
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_the_password_in_a_url_is_hidden_in_messages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(
        "COURIER_DATABASE_URL", "postgresql+asyncpg://courier:hunter2@db:5432/courier"
    )
    assert "hunter2" not in load_settings().safe_db_url()


def test_the_oauth_callback_is_needed_once_any_software_has_an_app() -> None:
    assert not Settings(_env_file=None).oauth_apps
    assert not Settings(_env_file=None, pennylane_client_id=" ").oauth_apps
    for name in ("xero_client_id", "quickbooks_client_id", "pennylane_client_id"):
        assert Settings(_env_file=None, **{name: "app"}).oauth_apps  # type: ignore[arg-type]
