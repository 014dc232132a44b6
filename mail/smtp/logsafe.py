"""Log lines that quote a client keep its control characters escaped.

aiosmtpd writes some of what a client sends into its warnings (an unknown command, as
sent). A client that puts ESC sequences or a bare CR there could rewrite a terminal, or
forge a line of the log; escaped, the bytes stay visible and harmless.
"""

from __future__ import annotations

import logging
import re

# C0 controls, DEL and C1 controls. Tab is kept: it is ordinary whitespace in a log.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    return _CONTROLS.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


class EscapeControls(logging.Filter):
    """Formats the record's message once, escaped; the traceback, ours, is left as is."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


def guard(*names: str) -> None:
    """Escape the records logged on these loggers (a filter applies where a record is made)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, EscapeControls) for existing in logger.filters):
            logger.addFilter(EscapeControls())
