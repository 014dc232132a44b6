"""The woob bridge: run by the python of woob's own virtualenv, never imported by Courier.

It speaks JSON lines: one request a line on stdin, one answer a line on stdout. woob's
pins (old `packaging`, `rich`) live in that virtualenv only, so they never meet Courier's.
Only the standard library and woob are imported here; nothing of `core`.

Requests, each `{"op": ...}`:
  open      module, params (login, password, site choices), interactive, state,
            modules_path (a folder of modules: the tests'), woob_dir (woob's own home)
  restore   the saved session still logged in? (no login is attempted)
  login     sign in; answers a step
  answer    code: the answer to the last question; answers a step
  poll      after an approval: "pending" until the module's own polling ends
  documents every document of every subscription
  download  id: the file, base64
  save      the backend's storage (the browser's cookies and state), to seal
  close     the process ends

Answers: {"ok": true, ...} or {"ok": false, "error": kind, "what": class name}. A
message from woob is never sent back: it may quote a page, a login or a URL.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from woob.core.woob import Woob, WoobBase
from woob.exceptions import (
    ActionNeeded,
    AppValidationCancelled,
    AppValidationExpired,
    BrowserIncorrectPassword,
    BrowserInteraction,
    BrowserQuestion,
    BrowserUnavailable,
    CaptchaQuestion,
    DecoupledValidation,
    ModuleInstallError,
    ModuleLoadError,
    NeedInteractive,
    SentOTPQuestion,
)
from woob.tools.storage import IStorage
from woob.tools.value import Value

#: The config keys a module may name the login with; the first it declares is used.
LOGIN_KEYS = ("login", "email", "username", "identifiant")
BACKEND = "courier"


class Storage(IStorage):
    """woob's storage interface over one dict: what `save` returns and `open` restores,
    so the cookies live sealed in Courier's database and nowhere on disk."""

    def __init__(self, state: dict[str, Any] | None) -> None:
        self.values: dict[str, dict[str, Any]] = {"backends": {BACKEND: dict(state or {})}}

    def load(self, what: str, name: str, default: dict[str, Any] | None = None) -> None:
        current = self.values.setdefault(what, {}).get(name, {})
        self.values[what][name] = {**(default or {}), **current}

    def save(self, what: str, name: str) -> None:
        return None  # nothing is written: Courier keeps the state

    def set(self, what: str, name: str, *args: Any) -> None:
        node = self.values.setdefault(what, {}).setdefault(name, {})
        *path, key, value = args
        for part in path:
            node = node.setdefault(part, {})
        node[key] = value

    def delete(self, what: str, name: str, *args: Any) -> None:
        node = self.values.get(what, {}).get(name, {})
        *path, key = args
        for part in path:
            node = node.get(part, {})
        node.pop(key, None)

    def get(self, what: str, name: str, *args: Any, **kwargs: Any) -> Any:
        node: Any = self.values.get(what, {}).get(name, {})
        for part in args:
            if not isinstance(node, dict) or part not in node:
                return kwargs.get("default")
            node = node[part]
        return node

    def backend_state(self) -> dict[str, Any]:
        return dict(self.values.get("backends", {}).get(BACKEND, {}))


class Failure(Exception):
    def __init__(self, kind: str, what: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.what = what


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return None


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None


def _amount(value: Any) -> str | None:
    return str(value) if isinstance(value, Decimal | int | float) else None


def _expires(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


class Bridge:
    def __init__(self) -> None:
        self.woob: WoobBase | None = None
        self.backend: Any = None
        self.storage: Storage | None = None
        self.question: tuple[str, ...] = ()
        self.answered = False
        self.polling: threading.Thread | None = None
        self.polled: dict[str, Any] | None = None
        self.login_key = "login"
        #: The password was given (`login`): woob may sign in again by itself.
        self.signed_in = False

    # -- requests -------------------------------------------------------------------

    def open(self, request: dict[str, Any]) -> dict[str, Any]:
        self.storage = Storage(request.get("state"))
        modules_path = request.get("modules_path")
        if modules_path:
            self.woob = WoobBase(modules_path=modules_path, storage=self.storage)
        else:
            home = request.get("woob_dir")
            # woob's own updater fetches and installs the module on first use.
            self.woob = Woob(workdir=home, datadir=home, storage=self.storage)
        name = request["module"]
        if modules_path:
            module = self.woob.modules_loader.get_or_load_module(name)
        else:
            assert isinstance(self.woob, Woob)
            module = self.woob.load_or_install_module(name)
        declared = module.klass.CONFIG
        self.login_key = next((key for key in LOGIN_KEYS if key in declared), "login")
        # The password comes with `login` only: a restored session needs none. `nofail`
        # lets the backend be built without it.
        params = dict(request.get("params") or {})
        self.backend = self.woob.build_backend(name, params, self.storage, BACKEND, nofail=True)
        if request.get("interactive"):
            # Someone is at the chat: a module may send an SMS or ask for its app. Unset
            # on scheduled runs, so a module raises NeedInteractiveFor2FA instead.
            self._config("request_information").set({})
        return {"ok": True}

    def restore(self, request: dict[str, Any]) -> dict[str, Any]:
        browser = self.backend.browser  # loads the saved state, and its page if any
        if self.backend._browser is not None and not self.signed_in:
            # Without a password a login can only fail: a session lost after this check
            # must not read as a refused password.
            browser.do_login = self._session_lost
        page = getattr(browser, "page", None)
        logged = bool(getattr(browser, "logged", False) or (page is not None and page.logged))
        return {"ok": True, "logged": logged}

    def login(self, request: dict[str, Any]) -> dict[str, Any]:
        self.answered = False
        if self.backend._browser is not None:
            # Opened by `restore` without a password: the browser is built again with
            # one, from the state it leaves in the storage (its cookies).
            self.backend.dump_state()
            self.backend._browser = None
        self.signed_in = True
        try:
            self._config(self.login_key).set(str(request["login"]))
            self._config("password").set(str(request["password"]))
        except ValueError as err:  # a login the module's own pattern refuses
            raise Failure("incorrect_password", "ValueError") from err
        return self._sign_in()

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if not self.question:
            raise Failure("code_rejected", "no question")
        for field_id in self.question:
            self._config(field_id).set(str(request["code"]))
        self.answered = True
        return self._sign_in()

    def poll(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.polling is None:
            # The module's own polling (handle_polling) usually waits for minutes: it
            # runs aside, and each poll says whether it ended.
            self._config("resume").set("true")
            self.polling = threading.Thread(target=self._poll_aside, daemon=True)
            self.polling.start()
        self.polling.join(timeout=float(request.get("wait", 0.5)))
        if self.polling.is_alive():
            return {"ok": True, "step": "pending"}
        self.polling = None
        answer, self.polled = self.polled or {"ok": False, "error": "layout"}, None
        return answer

    @staticmethod
    def _session_lost() -> None:
        raise Failure("session_lost")

    def _poll_aside(self) -> None:
        self.polled = self._guarded(self._sign_in)

    def documents(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "documents": list(self._documents())}

    def download(self, request: dict[str, Any]) -> dict[str, Any]:
        content = self.backend.download_document(request["id"])
        if not isinstance(content, bytes | bytearray) or not content:
            raise Failure("layout", "no file")
        return {"ok": True, "content": base64.b64encode(bytes(content)).decode("ascii")}

    def save(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.storage is not None
        if self.backend is not None and self.backend._browser is not None:
            self.backend.dump_state()
        return {"ok": True, "state": self.storage.backend_state()}

    # -- woob -----------------------------------------------------------------------

    def _config(self, key: str) -> Any:
        if key not in self.backend.config:
            self.backend.config[key] = Value(key, required=False, default=None)
        return self.backend.config[key]

    def _sign_in(self) -> dict[str, Any]:
        browser = self.backend.browser
        try:
            browser.do_login()
        except SentOTPQuestion as question:
            self.question = tuple(field.id for field in question.fields)
            return {
                "ok": True,
                "step": "code",
                "medium": question.medium_type,
                "destination": _text(question.medium_label),
                "expires_at": _expires(question.expires_at),
            }
        except BrowserQuestion as question:
            self.question = tuple(field.id for field in question.fields)
            return {"ok": True, "step": "code", "medium": "unknown"}
        except DecoupledValidation as validation:
            self.question = ()
            return {
                "ok": True,
                "step": "approval",
                "medium": validation.medium_type,
                "destination": _text(validation.medium_label),
                "expires_at": _expires(validation.expires_at),
            }
        except BrowserIncorrectPassword as err:
            # After a code was sent, a refusal is the code's: the password got us there.
            raise Failure("code_rejected" if self.answered else "incorrect_password") from err
        self.question = ()
        return {"ok": True, "step": "logged_in"}

    def _documents(self) -> Iterator[dict[str, Any]]:
        for subscription in self.backend.iter_subscription():
            for document in self.backend.iter_documents(subscription):
                if getattr(document, "has_file", True) is False:
                    continue
                yield {
                    "id": str(document.id),
                    "date": _iso(getattr(document, "date", None)),
                    "number": _text(getattr(document, "number", None)),
                    "label": _text(getattr(document, "label", None)),
                    "format": _text(getattr(document, "format", None)),
                    "amount": _amount(getattr(document, "total_price", None)),
                    "currency": _text(getattr(document, "currency", None)),
                    "subscription": _text(subscription.id),
                }

    def _guarded(self, action: Any, *args: Any) -> dict[str, Any]:
        """The request's answer, or its failure as a kind Courier maps to its errors."""
        try:
            answer: dict[str, Any] = action(*args)
            return answer
        except Failure as failure:
            return {"ok": False, "error": failure.kind, "what": failure.what}
        except NeedInteractive as err:
            return {"ok": False, "error": "needs_user", "what": type(err).__name__}
        except (AppValidationCancelled, AppValidationExpired) as err:
            return {"ok": False, "error": "approval_denied", "what": type(err).__name__}
        except BrowserIncorrectPassword as err:
            return {"ok": False, "error": "incorrect_password", "what": type(err).__name__}
        except CaptchaQuestion as err:
            return {"ok": False, "error": "action_needed", "what": type(err).__name__}
        except ActionNeeded as err:
            return {"ok": False, "error": "action_needed", "what": type(err).__name__}
        except (BrowserUnavailable, ModuleInstallError, OSError) as err:
            # requests' connection errors are OSErrors: the site or woob's repository.
            return {"ok": False, "error": "unavailable", "what": type(err).__name__}
        except ModuleLoadError as err:
            return {"ok": False, "error": "no_module", "what": type(err).__name__}
        except BrowserInteraction as err:
            return {"ok": False, "error": "action_needed", "what": type(err).__name__}
        except Exception as err:
            # A parse error, a missing element, an assertion: the site changed under
            # the module, which is what a community module does when it breaks.
            return {"ok": False, "error": "layout", "what": type(err).__name__}


def _http_status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def main(argv: list[str]) -> int:
    # woob's loggers may quote pages and logins: nothing reaches stderr below errors.
    logging.basicConfig(level=logging.CRITICAL)
    if argv[:1] == ["--update"]:
        # `courier woob install`: woob's own updater fetches the module index.
        home = argv[1]
        Woob(workdir=home, datadir=home).update()
        return 0
    bridge = Bridge()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            op = str(request["op"])
        except (ValueError, KeyError, TypeError):
            answer: dict[str, Any] = {"ok": False, "error": "protocol", "what": "bad request"}
        else:
            if op == "close":
                bridge.save({})
                break
            handler = getattr(bridge, op, None) if op in OPS else None
            if handler is None:
                answer = {"ok": False, "error": "protocol", "what": op}
            else:
                answer = bridge._guarded(_transient_http(handler), request)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


def _transient_http(handler: Any) -> Any:
    """A 5xx or a 429 from the site is the site's trouble, whatever the module made of it."""

    def call(request: dict[str, Any]) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = handler(request)
            return answer
        except Exception as err:
            status = _http_status(err)
            if status is not None and (status >= 500 or status == 429):
                raise BrowserUnavailable() from err
            raise

    return call


OPS = frozenset({"open", "restore", "login", "answer", "poll", "documents", "download", "save"})

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
