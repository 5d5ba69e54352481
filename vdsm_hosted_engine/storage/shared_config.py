"""The shared configuration on the storage domain (`ha_agent/hosted-engine.conf`).

Format: `key=value` lines, then `version=<n>` and last `crc32=<8 hex>` over every line before it.
Writes are read-modify-write with the version bumped, written to a temporary file in the same
directory, fsynced and renamed over the old one (`safe_file.replace`: random name, O_EXCL,
O_NOFOLLOW), so a reader sees the old or the new file, never half of one. A file whose crc does not
match is refused (CorruptBlock), never used. Every value written is checked by `shared_keys`: one
printable line, and what its key allows.
"""

from __future__ import annotations

import os
import re
import zlib

from vdsm_hosted_engine.errors import CorruptBlock, InvalidRequest, StorageUnavailable
from vdsm_hosted_engine.storage import safe_file, shared_keys

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
RESERVED = ("version", "crc32")


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
            with open(os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), encoding="utf-8") as f:
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
        shared_keys.parse(key, value)  # raises InvalidRequest naming the key
        values, version = self.read()
        values[key] = value
        try:
            safe_file.replace(self.path, render(values, version + 1).encode("utf-8"), mode=0o644)
        except OSError as e:
            raise StorageUnavailable(f"cannot write {self.path}: {e.strerror}") from None
        return version + 1
