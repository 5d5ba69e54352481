"""Alert e-mail, with the SMTP settings deploy stores in the shared configuration (`he.smtpServer`,
`he.smtpPort`, `he.sourceEmail`, `he.destEmails`). Sent off the agent's loop; a failure is logged,
never raised: an alert must not stop HA."""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage

from vdsm_hosted_engine.storage import shared_keys

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailSettings:
    server: str
    port: int
    sender: str
    recipients: tuple[str, ...]

    @classmethod
    def from_shared(cls, values: Mapping[str, str]) -> MailSettings | None:
        """None when no SMTP server was configured (alerts then go to the log and hook point only);
        InvalidRequest naming the key when a value is bad (another host or an older version wrote it)."""
        server = values.get("he.smtpServer")
        if not server:
            return None
        recipients = tuple(r.strip() for r in values.get("he.destEmails", "").split(",") if r.strip())
        if not recipients:
            return None
        return cls(
            server,
            shared_keys.parse("he.smtpPort", values.get("he.smtpPort", "25")),
            values.get("he.sourceEmail", "root@localhost"),
            recipients,
        )


def message(settings: MailSettings, host_id: int, hostname: str, text: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"hosted-engine alert on {hostname} (host {host_id})"
    mail["From"] = settings.sender
    mail["To"] = ", ".join(settings.recipients)
    mail.set_content(f"{text}\n\nSent by vdsm-hosted-engine on {hostname} (host id {host_id}).\n")
    return mail


def send(settings: MailSettings, mail: EmailMessage, timeout: float = 10.0) -> bool:
    try:
        with smtplib.SMTP(settings.server, settings.port, timeout=timeout) as smtp:
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as e:
        logger.warning("could not send the alert e-mail via %s:%d: %s", settings.server, settings.port, e)
        return False
    logger.info("alert e-mail sent to %s", ", ".join(settings.recipients))
    return True


def send_in_background(settings: MailSettings, mail: EmailMessage) -> threading.Thread:
    thread = threading.Thread(target=send, args=(settings, mail), name="alert-mail", daemon=True)
    thread.start()
    return thread
