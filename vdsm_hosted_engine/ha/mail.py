"""E-mail transport for notifications (ha/notify.py decides what to send and when).

Settings: the cluster-wide ones deploy stores in the shared configuration (`he.smtpServer`,
`he.smtpPort`, `he.smtpSecurity` none|starttls|ssl, `he.smtpUser`, `he.sourceEmail`,
`he.destEmails`), each checked by storage/shared_config.py; the password is per host, in a local
file readable by its owner only (`smtp_password_file` in hosted-engine.conf), never in the shared
configuration nor in any log line. The server's certificate is checked against the system's CAs or
`smtp_ca_file`. `send` never raises: a failed mail is logged and reported as False.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.storage.shared_keys import checked

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"none": "25", "starttls": "587", "ssl": "465"}


@dataclass(frozen=True)
class MailSettings:
    server: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    security: str = "none"
    user: str = ""
    password: str = field(default="", repr=False)  # never in a repr, hence never in a log line
    ca_file: str | None = None

    @classmethod
    def from_shared(
        cls, values: Mapping[str, str], password_file: str | None = None, ca_file: str | None = None
    ) -> MailSettings | None:
        """None when no SMTP server or no recipient is configured (notifications then go to the log
        and the hook point only); InvalidRequest naming the key when a stored value is invalid or
        the password file cannot be used."""
        if not checked(values, "he.smtpServer", "") or not values.get("he.destEmails"):
            return None
        security = checked(values, "he.smtpSecurity", "none")
        user = checked(values, "he.smtpUser", "") if values.get("he.smtpUser") else ""
        password = ""
        if user:
            if not password_file:
                raise InvalidRequest(f"he.smtpUser is {user!r} but hosted-engine.conf names no smtp_password_file")
            password = read_password(password_file)
        return cls(
            server=checked(values, "he.smtpServer", ""),
            port=checked(values, "he.smtpPort", DEFAULT_PORTS[security]),
            sender=checked(values, "he.sourceEmail", "root@localhost"),
            recipients=checked(values, "he.destEmails", ""),
            security=security,
            user=user,
            password=password,
            ca_file=ca_file,
        )


def read_password(path: str) -> str:
    """The first line of `path`, which only its owner (root, or this process's user) may read."""
    try:
        with open(path, encoding="utf-8") as f:
            info = os.fstat(f.fileno())
            if info.st_uid not in (0, os.geteuid()) or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise InvalidRequest(
                    f"{path} must belong to root and be readable by its owner only "
                    f"(it is mode {stat.S_IMODE(info.st_mode):04o}, uid {info.st_uid}): chmod 600 it"
                )
            password = f.readline().rstrip("\r\n")
    except OSError as e:
        raise InvalidRequest(f"cannot read the SMTP password file {path}: {e.strerror}") from None
    if not password:
        raise InvalidRequest(f"the SMTP password file {path} is empty")
    return password


def message(settings: MailSettings, subject: str, body: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = settings.sender
    mail["To"] = ", ".join(settings.recipients)
    mail.set_content(body)
    return mail


def send(settings: MailSettings, mail: EmailMessage, timeout: float = 10.0) -> bool:
    """Deliver `mail`; False (logged at WARNING) when the server cannot be reached, refuses the TLS
    handshake, the login or the message, or does not answer within `timeout` per exchange."""
    where = f"{settings.server}:{settings.port}"
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
        smtp: smtplib.SMTP
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(settings.server, settings.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.server, settings.port, timeout=timeout)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=context)
            if settings.user:
                smtp.login(settings.user, settings.password)
            smtp.send_message(mail)
    except smtplib.SMTPAuthenticationError as e:
        logger.warning("could not send the e-mail via %s: login as %r refused (%d)", where, settings.user, e.smtp_code)
        return False
    except (OSError, smtplib.SMTPException) as e:  # ssl.SSLError and timeouts are OSErrors
        logger.warning("could not send the e-mail via %s: %s", where, e)
        return False
    logger.info("e-mail %r sent to %s", mail["Subject"], ", ".join(settings.recipients))
    return True
