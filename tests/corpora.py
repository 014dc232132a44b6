"""The shared corpora of real documents and mail, beside the repository (../shared)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

CORPORA = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora"
MAIL = CORPORA / "mail"


def corpus_missing(where: Path) -> NoReturn:
    """CI has the corpora: there, a missing one fails. Elsewhere the test is skipped."""
    if os.environ.get("CI"):
        pytest.fail(f"the corpus is missing at {where}")
    pytest.skip(f"the corpus is not at {where}")


def real_mail() -> list[Path]:
    """Every message of the mail corpus."""
    found = sorted((MAIL / "messages").glob("*.eml"))
    if not found:
        corpus_missing(MAIL / "messages")
    return found
