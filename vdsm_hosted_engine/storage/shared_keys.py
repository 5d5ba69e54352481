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

from collections.abc import Callable
from typing import Any

from vdsm_hosted_engine import config
from vdsm_hosted_engine.errors import InvalidRequest

MAX_VALUE_CHARS = 4096


def parse_emails(text: str) -> str:
    addresses = [a.strip() for a in text.split(",")]
    if not all(a.count("@") == 1 and " " not in a and a.split("@")[0] and a.split("@")[1] for a in addresses):
        raise ValueError("must be e-mail addresses separated by commas")
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
    "he.smtpServer": config.parse_host,
    "he.smtpPort": config.parse_int(1, 65535),
    "he.sourceEmail": parse_emails,
    "he.destEmails": parse_emails,
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
