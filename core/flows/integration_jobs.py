"""The work `/integration` starts once a step committed: every call to the accounting
software (checking a ledger or a token, an authorisation address, loading lists,
revoking). The accounting services open their own short transactions around each call
(core/services/accounting.py), so none of them runs inside a step's transaction.

Each piece of work returns the outcome its `Progress` step waits for, as the flow's next
input (core/flows/manager.py): `{"outcome": "linked" | "authorise" | "refreshed" |
"disconnected" | "failed", ...}`. Expected failures are outcomes with an error `Text`,
so the flow goes back to the step where the person can put them right.
"""

from __future__ import annotations

from core.errors import ConfigInvalid, CourierError
from core.flows.accounting import accounting
from core.flows.flow import Context, Input, Later
from core.flows.steps import Text
from core.models import ListKind
from core.services.authorisations import (
    Connecting,
    change_software,
    connect,
    disconnect,
    reconnect,
    refresh_lists,
)

#: Ways a link is made: a first one, a change of software, the same books again.
PURPOSES = ("connect", "change", "reconnect")


def failed(err: CourierError, *, software: str) -> Input:
    """A failure as the outcome a step shows: the error's own key, but never the setting's
    name an owner cannot act on (finding 16): a software not set up says whom to ask."""
    if isinstance(err, ConfigInvalid):
        error = Text("flows.integration.error.not_configured", {"software": software})
    else:
        error = Text(f"errors.{err.key}", err.params)
    return {"outcome": "failed", "error": error}


def linking(
    context: Context, *, purpose: str, provider: str, software: str, secret: str | None
) -> Later:
    """Link, change to or reconnect `provider`. A token lives only in this closure: never
    in the flow's stored data."""
    assert purpose in PURPOSES
    acc = accounting(context.services)  # here: a missing part fails the step, not the work
    workspace_id, actor = context.workspace_id, context.member.id

    async def work() -> Input:
        try:
            result: Connecting
            if purpose == "connect":
                result = await connect(
                    acc,
                    workspace_id=workspace_id,
                    actor=actor,
                    provider_name=provider,
                    secret=secret,
                )
            elif purpose == "change":
                result = await change_software(
                    acc,
                    workspace_id=workspace_id,
                    actor=actor,
                    provider_name=provider,
                    secret=secret,
                )
            else:
                result = await reconnect(acc, workspace_id=workspace_id, actor=actor, secret=secret)
        except CourierError as err:
            return failed(err, software=software)
        if result.authorization_url is not None:
            return {"outcome": "authorise", "url": result.authorization_url}
        return {"outcome": "linked", "integration_id": result.integration_id}

    return work


def refreshing(context: Context, *, kind: ListKind | None, software: str) -> Later:
    """Reload every list, or one."""
    acc = accounting(context.services)  # here: a missing part fails the step, not the work
    workspace_id, actor = context.workspace_id, context.member.id

    async def work() -> Input:
        try:
            done = await refresh_lists(acc, workspace_id=workspace_id, actor=actor, kind=kind)
        except CourierError as err:
            return failed(err, software=software)
        return {
            "outcome": "refreshed",
            "counts": {str(k): n for k, n in done.counts.items()},
            "flagged": list(done.flagged_rules),
        }

    return work


def disconnecting(context: Context, *, keep_rules: bool, software: str) -> Later:
    acc = accounting(context.services)  # here: a missing part fails the step, not the work
    workspace_id, actor = context.workspace_id, context.member.id

    async def work() -> Input:
        try:
            dropped = await disconnect(
                acc, workspace_id=workspace_id, actor=actor, keep_rules=keep_rules
            )
        except CourierError as err:
            return failed(err, software=software)
        return {"outcome": "disconnected", "dropped": dropped}

    return work
