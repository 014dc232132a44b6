"""The command line's wording, in one place. Core raises keys; this turns them into lines."""

from __future__ import annotations

import core.accounting.errors  # registers the provider failures (their keys are checked)
import core.accounting.registry  # noqa: F401
import courier.startup  # noqa: F401  (registers the start-up failures, checked the same way)
from core.errors import CourierError

#: Why an image of a mail was set aside as decoration (mail/parse/logos.py).
DECORATION_REASONS: dict[str, str] = {
    "shown_in_html": "shown by the mail's HTML (a logo or signature)",
    "tracking_pixel": "a tracking pixel or spacer",
    "unnamed": "no file name",
}

ERRORS: dict[str, str] = {
    "error": "something went wrong",
    "config_invalid": "{setting}: {reason}",
    "database_unreachable": "the database at {url} does not answer ({reason}); is it running?",
    "database_not_migrated": (
        "the database at {url} is at revision {current}, not {head}: run `courier db upgrade`"
    ),
    "secret_key_missing": (
        "encrypted data exists but its secret key is missing: restore {key_file} "
        "or set COURIER_SECRET_KEY"
    ),
    "secret_key_mismatch": (
        "the secret key {key} cannot open the stored secrets: restore the key they were sealed with"
    ),
    "secret_key_invalid": "the secret key is unusable: {reason}",
    "storage_failed": "cannot store documents in {root}: {reason}",
    "woob_install_failed": "cannot install woob in {home}: {reason}",
    "file_not_accepted": (
        "{name} is not a kind of file Courier reads; it takes {accepted}; nothing was added"
    ),
    "document_too_large": (
        "{name} is larger than {limit_mb} MB, the most Courier takes in "
        "(COURIER_MAIL_MAX_BYTES); nothing was added"
    ),
    "not_found": "no {kind} {ident}",
    "answer_invalid": "that answer does not fit {field} ({reason})",
    "not_allowed": "this member's role does not allow {action} (README: Who may do what)",
    "workspace_not_found": "no workspace '{slug}'; `courier workspace list` shows them",
    "slug_taken": "the slug '{slug}' is taken; choose another with --slug",
    "slug_invalid": (
        "'{slug}' is not a valid slug: lowercase letters, digits and single dashes, "
        "at most 40 characters"
    ),
    "invite_unknown": "this invite code is unknown; ask for a new one",
    "invite_expired": "this invite code expired on {expired_at}; ask for a new one",
    "invite_used": "this invite code was already used; ask for a new one",
    "illegal_transition": "a {machine} cannot go from {current} to {target}",
    "connection_duplicate": "this {supplier} account is already connected in this workspace",
    "credentials_missing": "both a login and a password are needed",
    "date_invalid": "invalid date {value} ({reason})",
    "member_not_in_workspace": "member {member_id} is not in this workspace",
    "challenge_closed": "no code is awaited for this request any more",
    "integration_active": (
        "this workspace is already linked to {provider} ({state}); change software instead"
    ),
    "list_kind_unknown": "unknown list '{kind}'; choose one of {known}",
    # Accounting integrations (issue #7)
    "provider_failure": "{provider} failed",
    "integration_expired": (
        "the link to {provider} has expired; run `courier integration reconnect`"
    ),
    "provider_rate_limited": "{provider} asks to slow down; retried in {retry_after} s",
    "provider_rejected": "{provider} refused it: {reason}",
    "provider_unavailable": "{provider} does not answer properly ({reason}); retried later",
    "provider_attachment_too_large": "{provider} refused the file: {reason} (10 MB at most)",
    "provider_attachment_failed": (
        "{provider} has the bill but not its file ({reason}); only the file is sent again"
    ),
    "integration_company_mismatch": (
        "this is another company at {provider} ({got}, not {expected}): "
        "use `courier integration change` to switch"
    ),
    "ledger_invalid": "the ledger {path} cannot be used: {reason}",
    "ledger_name_invalid": "'{name}' is not a ledger name (a plain name such as main.beancount)",
    "ledger_not_found": "there is no ledger {name} in the workspace's ledger folder",
    "ledger_exists": "a ledger named {name} is already in the workspace's ledger folder",
    "ledger_outside_folder": (
        "the ledger {name} is under the ledger root but leads outside its workspace's folder "
        "(a link, an include, a document folder)"
    ),
    "ledger_plugin_refused": (
        "the ledger {name} is under the ledger root and asks for the plugin {plugin}; only "
        "Beancount's own plugins run there"
    ),
    "ledger_linked_elsewhere": "the ledger {name} is already linked by another workspace",
    "authorization_not_supported": "{provider} does not connect that way ({auth_kind})",
    "integration_manager_required": (
        "only the workspace's owners and admins manage its accounting software"
    ),
    "integration_missing": (
        "this workspace has no accounting software linked; run `courier integration connect`"
    ),
    "authorization_state_invalid": (
        "this authorisation link is not valid ({reason}); start again with "
        "`courier integration connect`"
    ),
    "integration_secret_required": "{provider} needs {what} to connect",
    "integration_not_usable": "the link to {provider} is {state}: it cannot do that now",
    "rule_code_unknown": (
        "'{code}' is not in the software's {kind}; `courier integration status` shows the "
        "lists, `courier integration refresh` reloads them"
    ),
    "provider_unknown": "unknown accounting software '{provider}'; choose one of {known}",
    # Start-up (courier/startup.py): one line, never a traceback (issue #14)
    "port_in_use": (
        "port {port} ({part}) is in use — another Courier running? Set {setting} or stop it"
    ),
    "port_refused": (
        "port {port} ({part}) is reserved for the system's administrator: set {setting} to "
        "1024 or above"
    ),
    "listen_failed": "the {part} cannot listen on {host}:{port} ({reason}); check {setting}",
    "folder_unusable": (
        "Courier cannot use the folder {path} ({reason}): set {setting} to a folder it may write"
    ),
    "telegram_unreachable": (
        "the Telegram Bot API at {url} does not answer; check the network, or "
        "COURIER_TELEGRAM_API_URL"
    ),
}


def render_error(error: CourierError) -> str:
    template = ERRORS.get(error.key, ERRORS["error"])
    try:
        return template.format(**error.params)
    except (KeyError, IndexError):
        return f"{template} ({error.key})"


#: Why a document was not published, as `courier publish` explains it.
PUBLISH_REASONS: dict[str, str] = {
    "missing_total": "no amount: give it with `courier inbox add … --amount`, or in the chat",
    "missing_supplier": "no supplier: give it with `--supplier`, or in the chat",
    "missing_date": "no invoice date: give it with `--date`, or in the chat",
    "missing_account": "no rule for this supplier: `courier rules set --supplier … --account …`",
    "vat_rate_unmapped": "no tax code in the software for this VAT rate (add one there, "
    "then `courier integration refresh` and publish again)",
    "currency_not_enabled": "the software's company keeps another currency only: turn "
    "multicurrency on there, then `courier integration reconnect` and publish again",
    "tax_code_missing": "the software needs a tax code on every line: give the supplier's "
    "rule a tax rate (`courier rules set … --tax-rate …`) and publish again",
    "rule_account_deleted": "held: the rule's account was deleted in the software; set another",
    "rule_tax_rate_deleted": "held: the rule's tax rate was deleted in the software; set another",
    "rule_transfer_unmapped": "held: the rule could not be mapped to the new software; set it",
    "integration_expired": "held until `courier integration reconnect`; then it goes by itself",
    "rate_limited": "the software asked to slow down; retried automatically",
    "unavailable": "the software did not answer properly; retried automatically",
    "rejected": "refused by the software",
    "duplicate": "the software already has this bill",
    "published_elsewhere": "already published",
}

#: Why `courier mailbox add` did not add a mailbox: it logs in first (mail/imap/client.py).
MAILBOX_CHECK: dict[str, str] = {
    "auth_failed": "{host} refused the password for {user}; nothing was added",
    "token_expired": "{host} refused the access token for {user}; nothing was added",
    "unreachable": "{host}:{port} does not answer as an IMAP server; nothing was added",
    "folder_missing": "there is no folder {folder} in that mailbox; nothing was added",
    "server_error": "{host} refused a command; nothing was added",
    "host_refused": (
        "{host} is on this machine or a private network; set COURIER_MAILBOX_ALLOW_PRIVATE=true "
        "to watch such a mailbox (a Dovecot on the same host, tests)"
    ),
}

#: How a supplier's invoices reach Courier, as `courier catalog search` says it.
WAY_IN: dict[str, str] = {
    "connector": "its connector (`courier connections add`)",
    "setting": "mail: switch on invoices by email ({setting}), then forward them or watch "
    "that mailbox (`courier mailbox add`)",
    "by_default": "mail: its invoices are emailed by default; forward them or watch that "
    "mailbox (`courier mailbox add`)",
    "mail": "mail: forward its invoices, or watch the mailbox they arrive in "
    "(`courier mailbox add`)",
}
