"""What a flow step returns: values the chat (or any interface) renders, never prose.

A step answers the person's input with one of five results, as Home Assistant's
`data_entry_flow` does:

- `Form`: ask for one or more typed fields (with buttons that answer it in one press);
- `Choice`: offer options, each an id and a label key;
- `Progress`: work runs in the background, the flow waits at this step for its outcome;
- `Done`: the flow finished, with what happened;
- `Abort`: the flow stopped, with a reason key.

Every text is a `Text`: a message key and its parameters. The interface words it in the
person's language (bot/locales), so a flow test asserts step ids and keys, not sentences.
Results are stored with the flow (the last one shown, to show it again after a failed
step), so they serialise to JSON and back (`dump_step`, `load_step`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

#: How a field is typed in: "secret" fields are deleted from the chat at once and reach
#: the step as a `pydantic.SecretStr`, which a flow must seal before keeping it.
FieldKind = Literal["text", "secret", "date", "amount", "number", "email"]

_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Text:
    """A message key and its parameters (never a secret: they end up in chats and logs)."""

    key: str
    params: Mapping[str, object] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: FieldKind = "text"


@dataclass(frozen=True, slots=True)
class Option:
    """One button: `id` comes back as the input `{"option": id}` (ids only, at most 40
    characters, so a button never carries data the person could forge into effect)."""

    id: str
    label: Text


@dataclass(frozen=True, slots=True)
class Form:
    flow: str
    step_id: str
    prompt: Text
    fields: tuple[Field, ...]
    #: Buttons that answer the form in one press (the value read, "full history"...).
    options: tuple[Option, ...] = ()
    error: Text | None = None
    #: Said before the prompt: what the last step did ("Amount saved").
    note: Text | None = None
    #: Lines shown under the prompt, each its own text: a listing (rules, documents).
    details: tuple[Text, ...] = ()


@dataclass(frozen=True, slots=True)
class Choice:
    flow: str
    step_id: str
    prompt: Text
    options: tuple[Option, ...]
    error: Text | None = None
    note: Text | None = None
    #: Options per row when shown as buttons.
    columns: int = 1
    #: Lines shown under the prompt, each its own text: a listing (rules, documents).
    details: tuple[Text, ...] = ()


@dataclass(frozen=True, slots=True)
class Progress:
    flow: str
    step_id: str
    prompt: Text
    options: tuple[Option, ...] = ()
    error: Text | None = None
    note: Text | None = None
    #: Lines shown under the prompt, each its own text: a listing (rules, documents).
    details: tuple[Text, ...] = ()


@dataclass(frozen=True, slots=True)
class Done:
    """The end: no button, since no step is left to answer one. What to do next (Retry,
    Review) comes as a notice with its own buttons, or as another command."""

    flow: str
    result: Text
    note: Text | None = None
    #: Lines shown under the prompt, each its own text: a listing (rules, documents).
    details: tuple[Text, ...] = ()


@dataclass(frozen=True, slots=True)
class Abort:
    flow: str
    reason: Text
    note: Text | None = None


Step = Form | Choice | Progress | Done | Abort
#: Steps the flow waits at for the person's next input.
Waiting = Form | Choice | Progress

_KINDS: dict[str, type[Any]] = {
    "form": Form,
    "choice": Choice,
    "progress": Progress,
    "done": Done,
    "abort": Abort,
}


def with_error(step: Waiting, error: Text) -> Waiting:
    """The same step shown again, with what went wrong (and not what the last step did)."""
    return replace(step, error=error, note=None)


def _text(value: Text) -> dict[str, Any]:
    return {"key": value.key, "params": dict(value.params)}


def _load_text(value: Mapping[str, Any] | None) -> Text | None:
    if value is None:
        return None
    return Text(str(value["key"]), MappingProxyType(dict(value.get("params") or {})))


def dump_step(step: Waiting) -> dict[str, Any]:
    """A waiting step as JSON (what the flow keeps to show it again)."""
    kind = {Form: "form", Choice: "choice", Progress: "progress"}[type(step)]
    out: dict[str, Any] = {
        "kind": kind,
        "flow": step.flow,
        "step_id": step.step_id,
        "prompt": _text(step.prompt),
        "options": [{"id": o.id, "label": _text(o.label)} for o in step.options],
        "details": [_text(line) for line in step.details],
    }
    if isinstance(step, Form):
        out["fields"] = [{"name": f.name, "kind": f.kind} for f in step.fields]
    if isinstance(step, Choice):
        out["columns"] = step.columns
    return out


def load_step(data: Mapping[str, Any]) -> Waiting:
    kind = _KINDS[str(data["kind"])]
    prompt = _load_text(data["prompt"])
    assert prompt is not None
    options = tuple(
        Option(str(o["id"]), _load_text(o["label"]) or Text("")) for o in data.get("options", ())
    )
    flow, step_id = str(data["flow"]), str(data["step_id"])
    details = tuple(
        line for line in (_load_text(d) for d in data.get("details", ())) if line is not None
    )
    if kind is Form:
        fields = tuple(Field(str(f["name"]), f["kind"]) for f in data.get("fields", ()))
        return Form(flow, step_id, prompt, fields, options, details=details)
    if kind is Choice:
        columns = int(data.get("columns", 1))
        return Choice(flow, step_id, prompt, options, columns=columns, details=details)
    return Progress(flow, step_id, prompt, options, details=details)
