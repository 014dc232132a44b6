"""Typed failures of accounting providers.

Providers raise these at their boundary (`raise RateLimited(...) from err`); the services
turn them into states. Only `IntegrationExpired` changes an integration's state: a 429 or
a 5xx never does. Parameters never hold a secret.
"""

from __future__ import annotations

from typing import ClassVar

from core.errors import CourierError, NotAllowed


class ProviderFailure(CourierError):
    """Base of what a provider reports; `retryable` says if the same call may succeed later."""

    key = "provider_failure"
    exit_code = 1
    retryable: ClassVar[bool] = False


class IntegrationExpired(ProviderFailure):
    """The authorisation is gone (invalid_grant, 401 a refresh does not cure, tenant removed)."""

    key = "integration_expired"

    def __init__(self, *, provider: str, reason: str = "") -> None:
        super().__init__(provider=provider, reason=reason)


class RateLimited(ProviderFailure):
    """429: try again after `retry_after` seconds."""

    key = "provider_rate_limited"
    retryable = True

    def __init__(self, *, provider: str, retry_after: float) -> None:
        super().__init__(provider=provider, retry_after=retry_after)
        self.retry_after = retry_after


class Rejected(ProviderFailure):
    """The software refused this bill or request (validation, duplicate): retrying won't help."""

    key = "provider_rejected"
    exit_code = 2

    def __init__(self, *, provider: str, reason: str, duplicate: bool = False) -> None:
        super().__init__(provider=provider, reason=reason)
        self.reason = reason
        self.duplicate = duplicate


class NeedsReview(Rejected):
    """The software cannot take the bill as the document stands, and a person can set it
    right (a currency the company does not keep, a line its tax model needs a tax code
    for): nothing is posted, and the document goes to review with `review_reason`, a
    message key. It keeps `provider_rejected` as its own key: said alone, it is a refusal."""

    def __init__(self, *, provider: str, review_reason: str, reason: str) -> None:
        super().__init__(provider=provider, reason=reason)
        self.review_reason = review_reason


class Unavailable(ProviderFailure):
    """5xx, a timeout, a refused connection or a malformed answer: retried with back-off."""

    key = "provider_unavailable"
    retryable = True

    def __init__(self, *, provider: str, reason: str) -> None:
        super().__init__(provider=provider, reason=reason)


class CompanyMismatch(CourierError):
    """A reconnect reached another company (tenant, realm, ledger): that is a change of software."""

    key = "integration_company_mismatch"

    def __init__(self, *, provider: str, expected: str, got: str) -> None:
        super().__init__(provider=provider, expected=expected, got=got)


class LedgerInvalid(CourierError):
    """A Beancount ledger that is missing or does not load; `reason` is Beancount's message."""

    key = "ledger_invalid"

    def __init__(self, *, path: str, reason: str) -> None:
        super().__init__(path=path, reason=reason)


class AuthorizationNotSupported(CourierError):
    """Asked for a way of connecting this software does not have (a URL for a ledger...)."""

    key = "authorization_not_supported"

    def __init__(self, *, provider: str, auth_kind: str) -> None:
        super().__init__(provider=provider, auth_kind=auth_kind)


class ManagerRequired(NotAllowed):
    """Only a workspace's owners and admins manage its accounting integration and its
    rules (core/permissions.py); a NotAllowed, with the integration's own wording."""

    key = "integration_manager_required"


class NoIntegration(CourierError):
    key = "integration_missing"


class AuthorizationStateInvalid(CourierError):
    """A callback whose `state` is unknown, already used, expired, or the software's refusal."""

    key = "authorization_state_invalid"

    def __init__(self, *, reason: str) -> None:
        super().__init__(reason=reason)


class SecretRequired(CourierError):
    """A token (Pennylane) or a ledger path (Beancount) is needed to connect."""

    key = "integration_secret_required"

    def __init__(self, *, provider: str, what: str) -> None:
        super().__init__(provider=provider, what=what)


class IntegrationNotUsable(CourierError):
    """The integration is not in a state that allows this (e.g. publishing while pending)."""

    key = "integration_not_usable"

    def __init__(self, *, provider: str, state: str) -> None:
        super().__init__(provider=provider, state=state)


class RuleCodeUnknown(CourierError):
    """A rule names an account or tax rate the software's loaded list does not have."""

    key = "rule_code_unknown"

    def __init__(self, *, kind: str, code: str) -> None:
        super().__init__(kind=kind, code=code)


class LedgerNameInvalid(CourierError):
    """A ledger from the chat is named by a plain `.beancount` file name, never a path."""

    key = "ledger_name_invalid"

    def __init__(self, *, name: str) -> None:
        super().__init__(name=name[:60])


class LedgerNotFound(CourierError):
    """No ledger of that name in the workspace's folder (only that folder is ever looked at)."""

    key = "ledger_not_found"

    def __init__(self, *, name: str) -> None:
        super().__init__(name=name)


class LedgerExists(CourierError):
    """A new or uploaded ledger would replace one already in the folder."""

    key = "ledger_exists"

    def __init__(self, *, name: str) -> None:
        super().__init__(name=name)


class LedgerOutsideFolder(CourierError):
    """The ledger, a link or an `include` leads out of its workspace's ledger folder (or to
    a file that is not a ledger): nothing of that file is read, nor quoted."""

    key = "ledger_outside_folder"

    def __init__(self, *, name: str) -> None:
        super().__init__(name=name)


class LedgerPluginRefused(CourierError):
    """A ledger in the ledger root asks to run a plugin that is not Beancount's own."""

    key = "ledger_plugin_refused"

    def __init__(self, *, name: str, plugin: str) -> None:
        super().__init__(name=name, plugin=plugin[:80])


class LedgerLinkedElsewhere(CourierError):
    """A ledger is the books of one workspace only."""

    key = "ledger_linked_elsewhere"

    def __init__(self, *, name: str) -> None:
        super().__init__(name=name)


class AttachmentTooLarge(Rejected):
    """The file is over what the software takes as an attachment: no bill is made for it."""

    key = "provider_attachment_too_large"

    def __init__(self, *, provider: str, size: int, limit: int) -> None:
        super().__init__(provider=provider, reason=f"the file is {size} bytes, over {limit}")
        self.size = size
        self.limit = limit


class AttachmentFailed(Unavailable):
    """The bill was made but its file did not follow: only the file is sent again, to the
    bill `external_id` (never a second bill)."""

    key = "provider_attachment_failed"

    def __init__(self, *, provider: str, external_id: str, reason: str) -> None:
        super().__init__(provider=provider, reason=reason)
        self.external_id = external_id
