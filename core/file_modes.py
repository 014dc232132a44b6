"""Courier's own files are its user's only: folders 0700, the database and key 0600.

Python's `mkdir(parents=True)` makes the missing parents with the default mode, so the
folders are made one level at a time here. Folders that already exist are left as the
operator set them; `courier doctor` says when the key or the database can be read by
others.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Make `path` and any missing parent, each 0700 (whatever the umask)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue  # another process made it first
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is masked by the umask


def make_private_file(path: Path) -> None:
    """Create `path` empty and 0600 if it does not exist yet (an empty file is a valid
    SQLite database, which SQLite then fills, keeping its mode for the WAL too)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def open_to_others(path: Path) -> bool:
    """Whether someone other than the owner may read or write `path`."""
    mode = path.stat().st_mode
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))
