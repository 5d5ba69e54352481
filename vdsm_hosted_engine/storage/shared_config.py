"""The shared configuration on the storage domain (`ha_agent/hosted-engine.conf`).

Format: `key=value` lines, then `version=<n>` and last `crc32=<8 hex>` over every line before it.
Writes are read-modify-write with the version bumped, written to a temporary file in the same
directory, fsynced and renamed over the old one, so a reader sees the old or the new file, never half
of one. A file whose crc does not match is refused (CorruptBlock), never used.
"""

from __future__ import annotations

import contextlib
import os
import re
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from vdsm_hosted_engine.config import parse_choice, parse_float, parse_host, parse_int
from vdsm_hosted_engine.errors import CorruptBlock, InvalidRequest, StorageUnavailable

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
RESERVED = ("version", "crc32")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")
SMTP_SECURITY = ("none", "starttls", "ssl")
DEFAULT_NOTIFY_PATTERN = "maintenance|start|stop|migrate|up|down"  # oVirt's broker.conf state_transition


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
    return parse_host(text) if text else ""


def parse_user(text: str) -> str:
    if not text or any(c.isspace() for c in text):
        raise ValueError("must be a user name without spaces")
    return text


# Keys whose values are checked: when set (setSharedConfig refuses a bad one, nothing is written)
# and when read by their user (`checked`), so a value stored before (a hand edit, an older version)
# is reported by the reader in one sentence, never a crash. Keys not listed are free text.
VALUE_CHECKS: dict[str, Callable[[str], Any]] = {
    "he.smtpServer": parse_server,
    "he.smtpPort": parse_int(1, 65535),
    "he.smtpSecurity": parse_choice(*SMTP_SECURITY),
    "he.smtpUser": parse_user,
    "he.sourceEmail": parse_email,
    "he.destEmails": parse_emails,
    "he.notifyPattern": parse_regex,
    "he.notifyWindow": parse_float(0.0, 86400.0),
}


def checked(values: Mapping[str, str], key: str, default: str) -> Any:
    """`key`'s parsed value (`default` when absent); InvalidRequest naming the key when invalid."""
    text = values.get(key, default)
    parse = VALUE_CHECKS[key]
    try:
        return parse(text)
    except ValueError as e:
        raise InvalidRequest(f"{key}: {text!r}: {e}") from None


def _crc(text: str) -> str:
    return f"{zlib.crc32(text.encode('utf-8')) & 0xFFFFFFFF:08x}"


def render(values: dict[str, str], version: int) -> str:
    body = "".join(f"{k}={v}\n" for k, v in sorted(values.items())) + f"version={version}\n"
    return body + f"crc32={_crc(body)}\n"


def parse(text: str, path: str = "shared config") -> tuple[dict[str, str], int]:
    lines = text.splitlines()
    if not lines or not lines[-1].startswith("crc32="):
        raise CorruptBlock(0, f"{path}: no crc32 line")
    body = text[: text.rindex("crc32=")]
    if lines[-1][len("crc32=") :] != _crc(body):
        raise CorruptBlock(0, f"{path}: bad crc32")
    values, version = {}, None
    for line in lines[:-1]:
        key, sep, value = line.partition("=")
        if not sep:
            raise CorruptBlock(0, f"{path}: line {line[:40]!r} is not key=value")
        if key == "version":
            version = int(value) if value.isdigit() else None
        else:
            values[key] = value
    if version is None:
        raise CorruptBlock(0, f"{path}: no valid version line")
    return values, version


class SharedConfig:
    def __init__(self, path: str) -> None:
        self.path = path

    def read(self) -> tuple[dict[str, str], int]:
        """(values, version); an absent file is empty at version 0."""
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return {}, 0
        except (OSError, UnicodeDecodeError) as e:
            raise StorageUnavailable(f"cannot read {self.path}: {e}") from None
        return parse(text, self.path)

    def get(self, key: str) -> str:
        values, _ = self.read()
        if key not in values:
            raise InvalidRequest(f"no key {key!r} in the shared configuration")
        return values[key]

    def set(self, key: str, value: str) -> int:
        """Set `key`; returns the new version."""
        if not _KEY.match(key) or key in RESERVED:
            raise InvalidRequest(f"{key!r} is not a valid shared configuration key")
        if "\n" in value or "\0" in value:
            raise InvalidRequest("a shared configuration value must be one line")
        if key in VALUE_CHECKS:
            checked({key: value}, key, value)
        values, version = self.read()
        values[key] = value
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(render(values, version + 1))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise StorageUnavailable(f"cannot write {self.path}: {e.strerror}") from None
        return version + 1
