"""A Bot API call's parameters, read the way Telegram reads them: from the query string,
a JSON body, a urlencoded form or a multipart form, where objects arrive JSON-serialized
and files either as a part of their own or as `attach://<part>`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Upload:
    data: bytes
    filename: str | None
    content_type: str | None


class ApiError(Exception):
    """An answer with `ok: false`, worded as Telegram words it."""

    def __init__(
        self, status: int, description: str, parameters: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = dict(parameters or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


class Params:
    def __init__(self, values: Mapping[str, Any], files: Mapping[str, Upload]) -> None:
        self.values = dict(values)
        self.files = dict(files)

    @classmethod
    async def read(cls, request: web.Request) -> Params:
        values: dict[str, Any] = dict(request.query)
        files: dict[str, Upload] = {}
        if request.method != "POST" or not request.body_exists:
            return cls(values, files)
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as err:
                raise bad_request("can't parse JSON object") from err
            if not isinstance(body, dict):
                raise bad_request("can't parse JSON object")
            values.update(body)
            return cls(values, files)
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = Upload(value.file.read(), value.filename, value.content_type)
            else:
                values[key] = value
        return cls(values, files)

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "") or name in self.files

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, *, empty: str | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            if empty is not None:
                raise bad_request(empty)
            return None
        if isinstance(value, bool):
            raise bad_request(f"{name} is not a number")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError as err:
            raise bad_request(f"invalid {name} specified") from err

    def boolean(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1")

    def object(self, name: str, *, what: str | None = None) -> Any:
        """A JSON-serialized object or array, already parsed when the body was JSON."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as err:
                raise bad_request(f"can't parse {what or name} JSON object") from err
        return value

    def chat_id(self) -> int:
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        try:
            return int(str(value).strip())
        except ValueError as err:
            # "@channelusername": the stand-in has only private chats.
            raise bad_request("chat not found") from err

    def file(self, name: str) -> Upload | str | None:
        """An uploaded file, or a string: a file_id or a URL."""
        if name in self.files:
            return self.files[name]
        value = self.values.get(name)
        if not isinstance(value, str) or not value:
            return None
        if value.startswith("attach://"):
            part = self.files.get(value.removeprefix("attach://"))
            if part is None:
                raise bad_request(f"file of the {name} not found in the request")
            return part
        return value
