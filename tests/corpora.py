"""The shared corpora of real documents and mail, beside the repository (../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPORA = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora"
MAIL = CORPORA / "mail" / "messages"


def real_mail() -> list[Path]:
    """Every message of the mail corpus. CI has the corpus: there, its absence fails."""
    found = sorted(MAIL.glob("*.eml"))
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"the mail corpus is missing at {MAIL}")
        pytest.skip(f"the mail corpus is not at {MAIL}")
    return found
