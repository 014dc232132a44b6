"""woob's own virtualenv: where it is, whether it is ready, and installing it.

`courier woob install` and the tests' fixture both call `install`, so the tests exercise
the path a user takes. woob's pins stay in its virtualenv; Courier's never change.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: The woob release the bridge is written against.
WOOB_REQUIREMENT = "woob==3.7"
BRIDGE = Path(__file__).with_name("bridge.py")
_MARKER = "installed.json"


class WoobInstallFailed(RuntimeError):
    """The virtualenv or pip failed; the message is pip's last lines (no secrets there)."""


@dataclass(frozen=True, slots=True)
class WoobSetup:
    """woob's home: its virtualenv under `venv/`, its modules and config under `data/`."""

    home: Path

    @property
    def venv(self) -> Path:
        return self.home / "venv"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def python(self) -> Path:
        scripts = "Scripts" if sys.platform == "win32" else "bin"
        return self.venv / scripts / ("python.exe" if sys.platform == "win32" else "python")

    @property
    def installed(self) -> bool:
        """Installed to the end: the marker is written only after pip succeeded."""
        return self.python.exists() and (self.home / _MARKER).exists()

    def version(self) -> str | None:
        try:
            return str(json.loads((self.home / _MARKER).read_text("utf-8"))["requirement"])
        except (OSError, ValueError, KeyError):
            return None

    def install(self, requirement: str = WOOB_REQUIREMENT) -> None:
        """Create the virtualenv (kept if present) and pip-install woob into it. Safe to
        run again: an installed requirement is left as it is."""
        self.home.mkdir(parents=True, exist_ok=True)
        with self._locked():
            if self.installed and self.version() == requirement:
                return
            if not self.python.exists():
                venv.EnvBuilder(with_pip=True, clear=True).create(self.venv)
            pip = [str(self.python), "-m", "pip", "install", "--quiet", "--no-input"]
            self._run([*pip, "--disable-pip-version-check", requirement])
            (self.home / _MARKER).write_text(json.dumps({"requirement": requirement}), "utf-8")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One install at a time (two commands, or the test workers sharing a cache)."""
        with (self.home / "install.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update_modules(self) -> None:
        """woob's own updater fetches its module index and installed modules (network)."""
        self.data.mkdir(parents=True, exist_ok=True)
        self._run([str(self.python), str(BRIDGE), "--update", str(self.data)])

    @staticmethod
    def _run(command: list[str]) -> None:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise WoobInstallFailed(tail or f"exit status {done.returncode}")
