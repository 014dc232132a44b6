"""The command line's wording, in one place. Core raises keys; this turns them into lines."""

from __future__ import annotations

from core.errors import CourierError

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
    "not_found": "no {kind} {ident}",
    "answer_invalid": "that answer does not fit {field} ({reason})",
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
}


def render_error(error: CourierError) -> str:
    template = ERRORS.get(error.key, ERRORS["error"])
    try:
        return template.format(**error.params)
    except (KeyError, IndexError):
        return f"{template} ({error.key})"
