"""Settings, read from the environment and a `.env` file with the prefix COURIER_.

Every setting has an embedded default, so `courier run` works on a fresh machine with
no configuration at all: SQLite and documents under `./var/`, everything in one process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigInvalid

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class Settings(BaseSettings):
    """Courier's configuration. Derived paths are properties, so they follow `data_dir`."""

    model_config = SettingsConfigDict(
        env_prefix="COURIER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default=Path("var"), description="Where Courier keeps its files.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to SQLite at <data_dir>/courier.db.",
    )
    storage_dir: Path | None = Field(
        default=None, description="Document store folder; defaults to <data_dir>/documents."
    )
    ledger_root: Path | None = Field(
        default=None,
        description="Where the chat keeps ledgers, one folder per workspace; "
        "defaults to <data_dir>/ledgers.",
    )
    woob_dir: Path | None = Field(
        default=None,
        description="woob's own virtualenv and modules (`courier woob install`); "
        "defaults to <data_dir>/woob.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet keys, comma-separated, newest first; else <data_dir>/secret.key.",
    )
    mail_domain: str = Field(
        default="courier.localhost", description="Domain of each workspace's inbox address."
    )
    telegram_token: SecretStr | None = Field(default=None, description="The bot's token.")
    telegram_api_url: str | None = Field(
        default=None, description="A self-hosted Bot API server, e.g. http://127.0.0.1:8081."
    )
    # The Telegram bot's mode (issue #5): long polling, or a webhook behind a load balancer.
    telegram_webhook_url: str | None = Field(
        default=None, description="Public HTTPS URL Telegram posts updates to; unset: polling."
    )
    telegram_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Checked on every webhook request (X-Telegram-Bot-Api-Secret-Token).",
    )
    telegram_webhook_host: str = Field(default="127.0.0.1", description="Webhook listener.")
    telegram_webhook_port: int = Field(default=8081, ge=0, le=65535, description="Its port.")
    bot_max_updates: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="Updates the bot handles at once; the others wait their turn. Each holds "
        "a database connection: keep it below the pool's 20.",
    )
    smtp_host: str = Field(default="127.0.0.1", description="Where the SMTP gateway listens.")
    smtp_port: int = Field(default=2525, ge=0, le=65535, description="The SMTP gateway's port.")
    smtp_hostname: str | None = Field(
        default=None, description="The name the gateway greets with; defaults to mail_domain."
    )
    mail_max_bytes: int = Field(
        default=25 * 1024 * 1024,
        ge=1024,
        description="Larger messages get 552; also the largest file `courier inbox add` takes.",
    )
    smtp_max_sessions: int = Field(
        default=200, ge=1, description="Concurrent SMTP sessions; more get 421, try later."
    )
    smtp_timeout_seconds: int = Field(default=300, ge=5, description="An idle session's limit.")
    # The gateway under abuse (issue #13): no one client can hold every session.
    smtp_max_sessions_per_ip: int = Field(
        default=10, ge=1, description="Concurrent SMTP sessions from one address; more get 421."
    )
    smtp_session_seconds: float = Field(
        default=1800, gt=0, description="A whole SMTP session's limit, however busy it keeps."
    )
    smtp_data_seconds: float = Field(
        default=600, gt=0, description="The limit for one DATA section, from 354 to its last dot."
    )
    mail_quota_bytes: int = Field(
        default=5 * 1024**3,
        ge=1024,
        description="Raw mail a workspace may keep; past it the gateway answers 452, try later.",
    )
    smtp_tls_cert: Path | None = Field(default=None, description="PEM cert: offers STARTTLS.")
    smtp_tls_key: Path | None = Field(default=None, description="The certificate's PEM key.")
    mailbox_allow_private: bool = Field(
        default=False,
        description="Let mailboxes use loopback, private and link-local hosts, and plain text.",
    )
    mail_lease_seconds: int = Field(
        default=60, ge=1, description="A dead mail worker's messages are taken over after this."
    )
    mail_authentication: bool = Field(
        default=True,
        description="Check SPF, DKIM, ARC and DMARC of mail (off: no mail vouches for a supplier).",
    )
    # Invoices behind billing hosts' links (issue #16, part 2; mail/links/).
    link_fetch: bool = Field(
        default=True, description="Download invoices behind links to listed billing hosts."
    )
    link_fetch_max_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="The largest file a link may give."
    )
    link_fetch_seconds: float = Field(
        default=30.0, gt=0, description="One link's limit, from connecting to the last byte."
    )
    link_fetch_allow_networks: list[str] = Field(
        default_factory=list,
        description="Private networks (CIDR) links may lead to. For tests only: leave empty.",
    )
    smtp_auth_user: str | None = Field(default=None, description="Enables AUTH for submission.")
    smtp_auth_password: SecretStr | None = Field(default=None, description="AUTH's password.")
    scheduler_tick_seconds: int = Field(
        default=15, ge=1, description="How often the scheduler asks what is due."
    )
    scheduler_lease_seconds: int = Field(
        default=120,
        ge=3,
        description="A dead scheduler's connections are taken over after this; a live one's"
        " runs renew it every third.",
    )
    fetch_concurrency: int = Field(default=20, ge=1, description="Runs at once per scheduler.")
    supplier_concurrency: int = Field(
        default=2, ge=1, description="Requests at once to one supplier, per process."
    )
    supplier_rate: float = Field(
        default=2.0, gt=0, description="Requests per second to one supplier, per process."
    )
    demo_supplier: bool = Field(
        default=True, description="`courier run` also serves the Demo Supplier, to try connectors."
    )
    demo_supplier_port: int = Field(default=8765, ge=1, le=65535, description="Its port.")
    invite_ttl_hours: int = Field(default=72, ge=1, description="How long an invite code lives.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # --- Accounting integrations (issue #7) ---------------------------------------------
    public_url: str = Field(
        default="http://127.0.0.1:8780",
        description="Where people's browsers reach Courier's OAuth callback server.",
    )
    oauth_callback_host: str = Field(default="127.0.0.1", description="Callback server's host.")
    oauth_callback_port: int = Field(default=8780, ge=0, le=65535, description="Its port.")
    oauth_state_ttl_minutes: int = Field(
        default=30, ge=1, description="How long an authorisation link may be completed."
    )
    telegram_bot_username: str | None = Field(
        default=None, description="The bot's username: the callback sends people back there."
    )
    xero_client_id: str | None = Field(default=None, description="Xero app's client id.")
    xero_client_secret: SecretStr | None = Field(default=None, description="Its secret.")
    xero_authorize_url: str = "https://login.xero.com/identity/connect/authorize"
    xero_token_url: str = "https://identity.xero.com/connect/token"
    xero_revoke_url: str = "https://identity.xero.com/connect/revocation"
    xero_api_url: str = Field(
        default="https://api.xero.com", description="Base of /connections and /api.xro/2.0."
    )
    xero_scopes: Literal["granular", "broad"] = Field(
        default="granular",
        description=(
            "Xero scopes to ask for: 'granular' (accounting.invoices..., required of apps "
            "created from 2 March 2026) or 'broad' (accounting.transactions, older apps)."
        ),
    )
    quickbooks_client_id: str | None = Field(default=None, description="Intuit app's client id.")
    quickbooks_client_secret: SecretStr | None = Field(default=None, description="Its secret.")
    quickbooks_authorize_url: str = "https://appcenter.intuit.com/connect/oauth2"
    quickbooks_token_url: str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    quickbooks_revoke_url: str = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
    quickbooks_api_url: str = Field(
        default="https://quickbooks.api.intuit.com", description="Base of /v3/company/<realm>."
    )
    pennylane_api_url: str = Field(
        default="https://app.pennylane.com/api/external/v2", description="Pennylane API v2."
    )
    pennylane_client_id: str | None = Field(
        default=None,
        description=(
            "Pennylane partner app's client id: set (with its secret), people sign in with "
            "OAuth 2.0, one company each; unset, each pastes its company API token."
        ),
    )
    pennylane_client_secret: SecretStr | None = Field(default=None, description="Its secret.")
    pennylane_authorize_url: str = "https://app.pennylane.com/oauth/authorize"
    pennylane_token_url: str = "https://app.pennylane.com/oauth/token"
    pennylane_revoke_url: str = "https://app.pennylane.com/oauth/revoke"
    # --- Suppliers signed in to by the owner's consent (OAuth 2.0) -------------------------
    google_ads_client_id: str | None = Field(
        default=None, description="Google Ads: the OAuth client id of Courier's Google app."
    )
    google_ads_client_secret: SecretStr | None = Field(default=None, description="Its secret.")
    google_ads_developer_token: SecretStr | None = Field(
        default=None, description="Courier's Google Ads API developer token."
    )
    google_ads_api_url: str = "https://googleads.googleapis.com"
    google_ads_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_ads_token_url: str = "https://oauth2.googleapis.com/token"
    # ---------------------------------------------------------------------------------------
    # --- Documents on more than one host (issue #19) ---------------------------------------
    document_store: Literal["local", "s3"] = Field(
        default="local",
        description="Where documents are kept: 'local' (the storage folder) or 's3' (a "
        "bucket every host reaches; see core/storage_s3.py).",
    )
    s3_bucket: str | None = Field(default=None, description="The bucket; required for 's3'.")
    s3_endpoint_url: str | None = Field(
        default=None,
        description="An S3-compatible server, e.g. http://minio:9000; unset: AWS S3.",
    )
    s3_region: str = Field(default="us-east-1", description="The bucket's region.")
    s3_prefix: str = Field(default="", description="A folder within the bucket, if shared.")
    s3_access_key_id: SecretStr | None = Field(
        default=None, description="Unset with the secret: the AWS_* variables or the host's role."
    )
    s3_secret_access_key: SecretStr | None = Field(default=None, description="Its secret.")
    s3_conditional_writes: bool = Field(
        default=True,
        description="Write with If-None-Match: * so an object is never replaced; off for a "
        "server that ignores it: Courier then asks first (HEAD, then PUT).",
    )
    # ---------------------------------------------------------------------------------------

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            url = make_url(value)
        except (ArgumentError, ValueError) as err:
            raise ValueError("could not parse the database URL") from err
        if url.drivername not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"unsupported driver {url.drivername!r}; use one of {', '.join(SUPPORTED_DRIVERS)}"
            )
        return value

    @field_validator("mail_domain")
    @classmethod
    def _check_mail_domain(cls, value: str) -> str:
        value = value.strip().lower()
        if not value or "@" in value or " " in value or value.startswith("."):
            raise ValueError("must be a bare domain such as courier.example.com")
        return value

    @property
    def greeting_hostname(self) -> str:
        return self.smtp_hostname or self.mail_domain

    @property
    def db_url(self) -> URL:
        if self.database_url:
            return make_url(self.database_url)
        return make_url(f"sqlite+aiosqlite:///{(self.data_dir / 'courier.db').as_posix()}")

    @property
    def documents_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "documents"

    @property
    def ledgers_dir(self) -> Path:
        """The ledger root: nothing named in the chat is opened outside its folders."""
        return self.ledger_root or self.data_dir / "ledgers"

    @property
    def oauth_callback_url(self) -> str:
        """The redirect URI to register with Xero, Intuit and Pennylane."""
        return self.public_url.rstrip("/") + "/oauth/callback"

    @property
    def woob_home(self) -> Path:
        return self.woob_dir or self.data_dir / "woob"

    @property
    def oauth_apps(self) -> bool:
        """Whether an OAuth app is set up (some software's, or a supplier's): the callback
        is needed."""
        ids = (
            self.xero_client_id,
            self.quickbooks_client_id,
            self.pennylane_client_id,
            self.google_ads_client_id,
        )
        return any(i and i.strip() for i in ids)

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"

    def safe_db_url(self) -> str:
        """The database URL with its password hidden, for messages and logs."""
        return self.db_url.render_as_string(hide_password=True)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        first = err.errors()[0]
        name = "COURIER_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        reason = str(first["msg"]).removeprefix("Value error, ")
        # Not chained: pydantic's report echoes the input, which may hold a password.
        raise ConfigInvalid(setting=name, reason=reason) from None
