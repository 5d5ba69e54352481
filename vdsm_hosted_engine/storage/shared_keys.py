"""The keys of the shared configuration and what each value may be: one table, checked at every write
(`SharedConfig.set`, so deploy and `setSharedConfig` alike) and by the readers that turn a value into
something else (a bad value another host or an older version wrote must not crash them).

Every value is one line of printable characters: no CR, vertical tab, form feed, file/group/record
separators, NEL or Unicode line/paragraph separators, which `splitlines` would take for a line end
(the file's crc would then fail on every later read, on every host). Keys in `SHARED_KEYS` are also
parsed by their parser; other keys (`vm.*`, an admin's own) get the generic check only.

To add a key: one line in `SHARED_KEYS` with a parser from `config.py` (or a new one there) that
raises ValueError with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from vdsm_hosted_engine import config
from vdsm_hosted_engine.errors import InvalidRequest

MAX_VALUE_CHARS = 4096


SMTP_SECURITY = ("none", "starttls", "ssl")
DEFAULT_NOTIFY_PATTERN = "maintenance|start|stop|migrate|up|down"  # oVirt's broker.conf state_transition
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")


def parse_email(text: str) -> str:
    if not _EMAIL.match(text):
        raise ValueError("not an e-mail address")
    return text


def parse_emails(text: str) -> tuple[str, ...]:
    found = tuple(parse_email(part.strip()) for part in text.split(",") if part.strip())
    if not found:
        raise ValueError("must be one or more e-mail addresses, separated by commas")
    return found


def parse_regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as e:
        raise ValueError(f"not a regular expression ({e})") from None


def parse_server(text: str) -> str:
    """A host name or address; empty turns the e-mail off."""
    return config.parse_host(text) if text else ""


def parse_user(text: str) -> str:
    if not text or any(c.isspace() for c in text):
        raise ValueError("must be a user name without spaces")
    return text


SHARED_KEYS: dict[str, Callable[[str], Any]] = {
    "he.fqdn": config.parse_host,
    "he.healthUrl": config.parse_http_url,
    "he.gateway": config.parse_ip,
    "he.networkTest": config.parse_choice(*config.NETWORK_TESTS),
    "he.networkTestTarget": config.parse_host,
    "he.networkTestPort": config.parse_int(1, 65535),
    "he.bridgeName": config.parse_ifname,
    "he.spareHosts": config.parse_int(0, 64),
    "he.smtpServer": parse_server,
    "he.smtpPort": config.parse_int(1, 65535),
    "he.smtpSecurity": config.parse_choice(*SMTP_SECURITY),
    "he.smtpUser": parse_user,
    "he.sourceEmail": parse_email,
    "he.destEmails": parse_emails,
    "he.notifyPattern": parse_regex,
    "he.notifyWindow": config.parse_float(0.0, 86400.0),
    "vm.vmId": config.parse_uuid,
}


def check_line(key: str, value: str) -> None:
    """The generic check every value passes: one line of printable characters."""
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidRequest(f"{key}: the value is longer than {MAX_VALUE_CHARS} characters")
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        raise InvalidRequest(f"{key}: the value must be one line of printable characters, not {bad!r}")


def parse(key: str, value: str) -> Any:
    """The value of `key` as its reader uses it, or InvalidRequest saying what is wrong with it."""
    check_line(key, value)
    parser = SHARED_KEYS.get(key)
    if parser is None:
        return value
    try:
        return parser(value)
    except ValueError as e:
        raise InvalidRequest(f"{key}: {value[:40]!r}: {e}") from None


def checked(values: Mapping[str, str], key: str, default: str) -> Any:
    """`key`'s parsed value from a shared configuration read (`default` when absent); InvalidRequest
    naming the key when a stored value is invalid (a hand edit, an older version): never a crash."""
    return parse(key, values.get(key, default))
