"""Mail a 2FA code the way a supplier does: a plain message to the account's address.

smtplib blocks, so it runs in a thread; a failed send is logged and the login goes on,
as on a real portal, where the user would simply not receive the code.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from courier.demo_supplier.config import SmtpTarget

logger = logging.getLogger(__name__)


def code_message(*, sender: str, to: str, code: str, ttl_minutes: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Demo Supplier <{sender}>"
    message["To"] = to
    message["Subject"] = "Votre code de vérification Demo Supplier"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "demo-supplier.example")
    message.set_content(
        "Bonjour,\n\n"
        f"Votre code de vérification est : {code}\n\n"
        f"Il expire dans {ttl_minutes} minutes. Si vous n'êtes pas à l'origine de cette "
        "demande, ignorez ce message.\n\n"
        "L'équipe Demo Supplier\n"
    )
    return message


async def send_code(smtp: SmtpTarget, *, to: str, code: str, ttl_minutes: int) -> bool:
    message = code_message(sender=smtp.sender, to=to, code=code, ttl_minutes=ttl_minutes)

    def _send() -> None:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
            client.send_message(message)

    try:
        await asyncio.to_thread(_send)
    except (OSError, smtplib.SMTPException) as err:
        logger.warning("demo supplier could not mail a code to %s: %s", to, err)
        return False
    return True
