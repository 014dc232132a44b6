"""Every error key core can raise has its wording, and the wording uses only its params."""

from __future__ import annotations

from core.errors import CourierError
from courier.texts import ERRORS


def _all_errors(cls: type[CourierError] = CourierError) -> list[type[CourierError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_errors(sub))
    return found


def test_every_error_key_has_a_text() -> None:
    keys = {cls.key for cls in _all_errors()}
    assert len(keys) > 15
    assert keys - ERRORS.keys() == set()
