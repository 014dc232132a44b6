"""Safe file names for documents that came from outside (mail attachments, archives, uploads).

A sender chooses an attachment's name, so it may hold a path, control characters, a
Windows device name or a kilobyte of text. What comes out of `safe_filename` can be
stored and shown anywhere, yet still reads like what the sender typed: accents stay.
"""

from __future__ import annotations

import re
import unicodedata

MAX_FILENAME_BYTES = 150

# Longer "extensions" are more likely part of the name ("Facture du 12.11 pour Acme").
_MAX_EXTENSION_CHARS = 10

_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{digit}" for digit in range(1, 10)}
    | {f"LPT{digit}" for digit in range(1, 10)}
)

# Characters that Windows refuses in a name; replacing them keeps the words apart.
_FORBIDDEN = re.compile(r'[<>:"|?*]')
_SPACES = re.compile(r"\s+")
_EXTENSION = re.compile(rf"\.[A-Za-z0-9]{{1,{_MAX_EXTENSION_CHARS}}}$")


def safe_filename(name: str | None, *, default: str = "document") -> str:
    """Return `name` made safe to store and show; never empty, at most 150 bytes of UTF-8."""
    fallback = default or "document"
    if not name:
        return fallback
    text = unicodedata.normalize("NFC", name)
    # Mailers still send "C:\\Users\\...\\facture.pdf"; only the last part names the file.
    parts = [part for part in re.split(r"[/\\]", text) if part.strip()]
    text = parts[-1] if parts else ""
    text = "".join(char for char in text if not _is_invisible(char))
    text = _FORBIDDEN.sub("_", text)
    text = _SPACES.sub(" ", text).strip()
    # Leading dots hide a file or climb a directory; trailing dots and spaces vanish on Windows.
    text = text.lstrip(". ").rstrip(". ")
    if not text:
        return fallback
    stem, extension = _split_extension(text)
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    if not stem:
        stem = fallback
    return _trim(stem, extension)


def _is_invisible(char: str) -> bool:
    # Cc: controls; Cf: format characters, among them the right-to-left override that
    # turns "facture\u202efdp.exe" into "factureexe.pdf" on screen; Zl/Zp: line breaks.
    return unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def _split_extension(text: str) -> tuple[str, str]:
    match = _EXTENSION.search(text)
    if match is None:
        return text, ""
    return text[: match.start()].rstrip(" "), match.group(0)


def _trim(stem: str, extension: str) -> str:
    budget = MAX_FILENAME_BYTES - len(extension.encode("utf-8"))
    encoded = stem.encode("utf-8")
    if len(encoded) > budget:
        # Cut on a character boundary so the name stays valid UTF-8.
        stem = encoded[:budget].decode("utf-8", errors="ignore").rstrip(" .")
    return f"{stem or 'document'}{extension}"
