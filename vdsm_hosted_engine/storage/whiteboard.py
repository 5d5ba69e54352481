"""The whiteboard codec: per-host metadata blocks, byte-compatible with oVirt's metadata v1.

This module is pure (bytes in, values out). File I/O is in `whiteboard_file.py`.

File layout (`<domain>/ha_agent/hosted-engine.metadata`, 2001 x 4096 bytes)::

    offset 0          slot 0     global block
    offset n x 4096   slot n     host block of host id n, 1 <= n <= 2000

Host block (4096 bytes)::

    bytes 0-511     the record: ASCII fields joined by "|", NUL padded
                     0 parse version (1)         1 feature version (1)
                     2 timestamp: the writer's monotonic seconds since its boot
                     3 host id (must equal the slot number)
                     4 score                     5 engine status, a JSON object
                     6 hostname                  7 local maintenance 0/1
                     8 stopped 0/1               9 crc32: 8 lowercase hex digits over the record
                                                   written with this field as "00000000"
                    10 conf_on_shared_storage 0/1
                    11 local_conf_timestamp
    bytes 512-4095  "key=value\\n" lines, NUL padded: oVirt's human-readable copy
                    (metadata_parse_version, metadata_feature_version, timestamp=<n> (<ctime>),
                    host-id, score, vm_conf_refresh_time, conf_on_shared_storage, maintenance,
                    state=<state name>, stopped), then our own fields, then our
                    `crc32_info=<8 hex>` line: crc32 of every line before it.

Global block (slot 0): "key=value\\n" lines, NUL padded: `maintenance=0|1`, then our own fields and
`crc32_info`. An all-NUL global block means no flag is set.

Invariants the encoder keeps: the engine status JSON never contains "|" (escaped as \\u007c, still
valid JSON for any reader); hostnames and values never contain "|", NUL or newline; a block always
has a crc. Our extra fields live only in the key=value part, where oVirt's readers ignore them.

What a reader does with a block (`decode_host_slot`, `decode_global_slot`): it never raises. An all-NUL
block is empty (`EmptySlot`). Anything it cannot trust is an `InvalidSlot` carrying the reason (NUL
inside the text, malformed record, field not a number, version too new, host id not the slot, crc
mismatch, key=value part damaged): such a block is ignored and reported, never used. oVirt-written
blocks lack `crc32_info`; their key=value part is accepted as oVirt accepts it (the record's crc
still protects every field that decisions use).

Write order: a host writes only its own slot (one aligned 4096-byte write, while it holds its sanlock
host id); the global slot is read, modified and written back whole.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import CorruptBlock

SLOT_SIZE = constants.SLOT_SIZE
RECORD_SIZE = constants.RECORD_SIZE
INFO_SIZE = SLOT_SIZE - RECORD_SIZE
PARSE_VERSION = constants.METADATA_PARSE_VERSION
FEATURE_VERSION = constants.METADATA_FEATURE_VERSION

CRC_PLACEHOLDER = "00000000"
INFO_CRC_KEY = "crc32_info"

# oVirt's key=value lines that the encoder writes itself; callers' extras may not reuse them.
STANDARD_INFO_KEYS = frozenset(
    {
        "metadata_parse_version",
        "metadata_feature_version",
        "timestamp",
        "host-id",
        "score",
        "vm_conf_refresh_time",
        "conf_on_shared_storage",
        "maintenance",
        "state",
        "stopped",
        "timeout",
        INFO_CRC_KEY,
    }
)

GLOBAL_OVIRT_KEYS = frozenset({"maintenance"})

_EXTRA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEX8 = re.compile(r"^[0-9a-f]{8}$")
_EMPTY_BLOCK = bytes(SLOT_SIZE)


@dataclass(frozen=True)
class HostSlot:
    """A valid host block. `extra` holds our own key=value fields; `info` is every key=value line as
    read (oVirt's included) and `crc32` the record's crc as stored; both are empty when encoding."""

    host_id: int
    timestamp: int
    score: int
    engine_status: Mapping[str, Any]
    hostname: str
    maintenance: bool = False
    stopped: bool = False
    conf_on_shared_storage: bool = True
    local_conf_timestamp: int = 0
    state: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)
    crc32: str = field(default="", compare=False)
    info: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def slot(self) -> int:
        return self.host_id


@dataclass(frozen=True)
class GlobalSlot:
    """The global block: cluster-wide flags."""

    maintenance: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def slot(self) -> int:
        return 0


@dataclass(frozen=True)
class EmptySlot:
    """A slot no host has written (all NUL)."""

    slot: int


@dataclass(frozen=True)
class InvalidSlot:
    """A block that must not be trusted, and why."""

    slot: int
    reason: str


SlotReading = HostSlot | EmptySlot | InvalidSlot
GlobalReading = GlobalSlot | InvalidSlot


# -- encoding --------------------------------------------------------------------------------------


def _ctime(seconds: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(seconds))


def _check_text(name: str, value: str, forbidden: str = "|\n\0") -> None:
    bad = [c for c in forbidden if c in value]
    if bad:
        raise ValueError(f"{name} contains forbidden character {bad[0]!r}: {value!r}")


def _info_lines(pairs: list[tuple[str, str]]) -> str:
    """key=value lines with the trailing crc32_info line over them."""
    text = "".join(f"{k}={v}\n" for k, v in pairs)
    crc = zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF
    return text + f"{INFO_CRC_KEY}={crc:08x}\n"


def _check_extra(extra: Mapping[str, str]) -> None:
    for key, value in extra.items():
        if not _EXTRA_KEY.match(key):
            raise ValueError(f"extra key {key!r} is not [A-Za-z0-9_.-]{{1,64}}")
        if key in STANDARD_INFO_KEYS:
            raise ValueError(f"extra key {key!r} is one of oVirt's standard keys")
        _check_text(f"extra value of {key}", value, "\n\0")


def engine_status_json(status: Mapping[str, Any]) -> str:
    """Compact, key-sorted JSON with "|" escaped, so the record's field separator never appears."""
    return json.dumps(dict(status), sort_keys=True, ensure_ascii=True).replace("|", "\\u007c")


def encode_host_slot(slot: HostSlot, wall_time: float | None = None) -> bytes:
    """The 4096 bytes of `slot`. `wall_time` only dates the human-readable lines.

    Raises ValueError when the slot cannot be written faithfully (forbidden characters, too long):
    that is the caller's bug, and nothing half-encoded is returned.
    """
    if not 1 <= slot.host_id <= constants.MAX_HOST_ID:
        raise ValueError(f"host id {slot.host_id} out of range 1..{constants.MAX_HOST_ID}")
    if not slot.hostname:
        raise ValueError("hostname is empty")
    _check_text("hostname", slot.hostname)
    _check_text("state", slot.state)
    _check_extra(slot.extra)
    fields_ = [
        str(PARSE_VERSION),
        str(FEATURE_VERSION),
        str(int(slot.timestamp)),
        str(slot.host_id),
        str(int(slot.score)),
        engine_status_json(slot.engine_status),
        slot.hostname,
        "1" if slot.maintenance else "0",
        "1" if slot.stopped else "0",
        CRC_PLACEHOLDER,
        "1" if slot.conf_on_shared_storage else "0",
        str(int(slot.local_conf_timestamp)),
    ]
    unsigned = "|".join(fields_).encode("ascii")
    fields_[9] = f"{zlib.crc32(unsigned) & 0xFFFFFFFF:08x}"
    record = "|".join(fields_).encode("ascii")
    if len(record) > RECORD_SIZE:
        raise ValueError(f"record is {len(record)} bytes, more than {RECORD_SIZE}")

    when = wall_time if wall_time is not None else 0.0
    pairs = [
        ("metadata_parse_version", str(PARSE_VERSION)),
        ("metadata_feature_version", str(FEATURE_VERSION)),
        ("timestamp", f"{int(slot.timestamp)} ({_ctime(when)})"),
        ("host-id", str(slot.host_id)),
        ("score", str(int(slot.score))),
        ("vm_conf_refresh_time", f"{int(slot.local_conf_timestamp)} ({_ctime(when)})"),
        ("conf_on_shared_storage", str(bool(slot.conf_on_shared_storage))),
        ("maintenance", str(bool(slot.maintenance))),
        ("state", slot.state),
        ("stopped", str(bool(slot.stopped))),
        *slot.extra.items(),
    ]
    info = _info_lines(pairs).encode("utf-8")
    if len(info) > INFO_SIZE:
        raise ValueError(f"key=value part is {len(info)} bytes, more than {INFO_SIZE}")
    return record.ljust(RECORD_SIZE, b"\0") + info.ljust(INFO_SIZE, b"\0")


def encode_global_slot(slot: GlobalSlot) -> bytes:
    _check_extra(slot.extra)
    info = _info_lines([("maintenance", "1" if slot.maintenance else "0"), *slot.extra.items()])
    data = info.encode("utf-8")
    if len(data) > SLOT_SIZE:
        raise ValueError(f"global block is {len(data)} bytes, more than {SLOT_SIZE}")
    return data.ljust(SLOT_SIZE, b"\0")


# -- decoding --------------------------------------------------------------------------------------


def _text(slot: int, raw: bytes, what: str) -> str:
    """The NUL-padded text of a block part; a NUL inside the text means damage."""
    end = raw.find(b"\0")
    body = raw
    if end >= 0:
        # Everything from the first NUL on must be padding (bytes.count is far faster than rstrip).
        if raw.count(b"\0", end) != len(raw) - end:
            raise CorruptBlock(slot, f"NUL byte inside the {what}")
        body = raw[:end]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptBlock(slot, f"{what} is not UTF-8 text") from None


def _parse_info(slot: int, text: str, unverified_keys: frozenset[str]) -> tuple[dict[str, str], bool]:
    """key=value lines -> (pairs without crc32_info, whether a crc verified them).

    Without a crc32_info line (a block oVirt wrote) only oVirt's own keys, `unverified_keys`, are
    accepted: anything else may be our block with its crc line damaged."""
    pairs: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    checked_upto = None
    for index, line in enumerate(lines):
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise CorruptBlock(slot, f"key=value part: line {index + 1} is not key=value: {line[:40]!r}")
        if key == INFO_CRC_KEY:
            if index != len(lines) - 1:
                raise CorruptBlock(slot, f"key=value part: {INFO_CRC_KEY} is not the last line")
            checked_upto = value
            break
        if key in pairs:
            raise CorruptBlock(slot, f"key=value part: duplicate key {key!r}")
        pairs[key] = value
    if checked_upto is None:
        unknown = sorted(set(pairs) - unverified_keys)
        if unknown:
            raise CorruptBlock(slot, f"key=value part: key {unknown[0][:40]!r} without {INFO_CRC_KEY}")
        return pairs, False
    # The crc line is the last line: the body is everything before it.
    body = text[: len(text) - len(lines[-1]) - (1 if text.endswith("\n") else 0)]
    computed = f"{zlib.crc32(body.encode('utf-8')) & 0xFFFFFFFF:08x}"
    if checked_upto != computed:
        raise CorruptBlock(slot, f"key=value part: bad {INFO_CRC_KEY} (stored {checked_upto!r}, computed {computed})")
    return pairs, True


def _int_field(slot: int, tokens: list[str], index: int, name: str) -> int:
    try:
        return int(tokens[index], 10)
    except ValueError:
        raise CorruptBlock(slot, f"field {name} is not an integer: {tokens[index][:20]!r}") from None


def _flag_field(slot: int, tokens: list[str], index: int, name: str) -> bool:
    value = tokens[index]
    if value not in ("0", "1"):
        raise CorruptBlock(slot, f"field {name} is not 0 or 1: {value[:20]!r}")
    return value == "1"


def parse_host_slot(slot: int, block: bytes) -> HostSlot:
    """Decode a non-empty host block or raise CorruptBlock saying why it cannot be trusted."""
    if len(block) != SLOT_SIZE:
        raise CorruptBlock(slot, f"truncated block ({len(block)} of {SLOT_SIZE} bytes)")
    record = _text(slot, block[:RECORD_SIZE], "record")
    tokens = record.split("|")
    if len(tokens) < 7:
        raise CorruptBlock(slot, f"malformed record: {len(tokens)} fields, at least 7 expected")
    parse_version = _int_field(slot, tokens, 0, "parse version")
    if parse_version > PARSE_VERSION:
        raise CorruptBlock(slot, f"metadata too new (parse version {parse_version}, this agent reads {PARSE_VERSION})")
    if parse_version < 1:
        raise CorruptBlock(slot, f"bad parse version {parse_version}")
    _int_field(slot, tokens, 1, "feature version")
    timestamp = _int_field(slot, tokens, 2, "timestamp")
    host_id = _int_field(slot, tokens, 3, "host id")
    if host_id != slot:
        raise CorruptBlock(slot, f"host id {host_id} written in slot {slot}")
    score = _int_field(slot, tokens, 4, "score")
    if len(tokens) >= 10:
        stored = tokens[9]
        if not _HEX8.match(stored):
            raise CorruptBlock(slot, f"field crc32 is not 8 hex digits: {stored[:20]!r}")
        unsigned = "|".join([*tokens[:9], CRC_PLACEHOLDER, *tokens[10:]])
        computed = f"{zlib.crc32(unsigned.encode('utf-8')) & 0xFFFFFFFF:08x}"
        if stored != computed:
            raise CorruptBlock(slot, f"bad crc32 (stored {stored}, computed {computed})")
        crc = stored
    else:
        crc = ""
    try:
        status = json.loads(tokens[5])
    except ValueError:
        raise CorruptBlock(slot, "engine status is not JSON") from None
    if not isinstance(status, dict):
        raise CorruptBlock(slot, "engine status is not a JSON object")
    hostname = tokens[6]
    maintenance = _flag_field(slot, tokens, 7, "maintenance") if len(tokens) > 7 else False
    stopped = _flag_field(slot, tokens, 8, "stopped") if len(tokens) > 8 else False
    conf_shared = _flag_field(slot, tokens, 10, "conf_on_shared_storage") if len(tokens) > 10 else True
    conf_ts = _int_field(slot, tokens, 11, "local_conf_timestamp") if len(tokens) > 11 else 0

    info_text = _text(slot, block[RECORD_SIZE:], "key=value part")
    info, _verified = _parse_info(slot, info_text, STANDARD_INFO_KEYS)
    extra = {k: v for k, v in info.items() if k not in STANDARD_INFO_KEYS}
    return HostSlot(
        host_id=host_id,
        timestamp=timestamp,
        score=score,
        engine_status=MappingProxyType(status),
        hostname=hostname,
        maintenance=maintenance,
        stopped=stopped,
        conf_on_shared_storage=conf_shared,
        local_conf_timestamp=conf_ts,
        state=info.get("state", ""),
        extra=MappingProxyType(extra),
        crc32=crc,
        info=MappingProxyType(info),
    )


def decode_host_slot(slot: int, block: bytes) -> SlotReading:
    """Never raises: the slot's host block, EmptySlot, or InvalidSlot with the reason."""
    if block == _EMPTY_BLOCK:
        return EmptySlot(slot)
    if block[:1] == b"\0":
        return InvalidSlot(slot, "starts with NUL but is not empty")
    try:
        return parse_host_slot(slot, block)
    except CorruptBlock as e:
        return InvalidSlot(slot, e.reason)


def parse_global_slot(block: bytes) -> GlobalSlot:
    """Decode the global block or raise CorruptBlock."""
    if len(block) != SLOT_SIZE:
        raise CorruptBlock(0, f"truncated block ({len(block)} of {SLOT_SIZE} bytes)")
    text = _text(0, block, "global block")
    # oVirt's agents write the global block without crc32_info; accept that as oVirt does.
    pairs, _verified = _parse_info(0, text, GLOBAL_OVIRT_KEYS)
    raw = pairs.pop("maintenance", "0")
    if raw not in ("0", "1", "True", "False"):
        raise CorruptBlock(0, f"maintenance is not 0 or 1: {raw[:20]!r}")
    return GlobalSlot(maintenance=raw in ("1", "True"), extra=MappingProxyType(pairs))


def decode_global_slot(block: bytes) -> GlobalReading:
    """Never raises: the global flags or InvalidSlot(0, reason)."""
    try:
        return parse_global_slot(block)
    except CorruptBlock as e:
        return InvalidSlot(0, e.reason)


# -- the whole file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Whiteboard:
    """Everything one read of the metadata file says: global flags, valid hosts, invalid slots."""

    global_: GlobalReading
    hosts: Mapping[int, HostSlot]
    invalid: Mapping[int, InvalidSlot]

    @property
    def global_maintenance(self) -> bool:
        return isinstance(self.global_, GlobalSlot) and self.global_.maintenance


def iter_slots(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(slot number, block) for every complete host slot in `data`, up to MAX_HOST_ID."""
    count = min(len(data) // SLOT_SIZE - 1, constants.MAX_HOST_ID)
    view = memoryview(data)
    for slot in range(1, count + 1):
        yield slot, bytes(view[slot * SLOT_SIZE : (slot + 1) * SLOT_SIZE])


def decode_whiteboard(data: bytes) -> Whiteboard:
    """Decode a whole metadata area; never raises, whatever `data` holds."""
    if len(data) < SLOT_SIZE:
        return Whiteboard(InvalidSlot(0, f"metadata area is {len(data)} bytes, shorter than a slot"), {}, {})
    hosts: dict[int, HostSlot] = {}
    invalid: dict[int, InvalidSlot] = {}
    for slot, block in iter_slots(data):
        if block[0] == 0 and block == _EMPTY_BLOCK:
            continue
        reading = decode_host_slot(slot, block)
        if isinstance(reading, HostSlot):
            hosts[slot] = reading
        elif isinstance(reading, InvalidSlot):
            invalid[slot] = reading
    return Whiteboard(decode_global_slot(bytes(data[:SLOT_SIZE])), hosts, invalid)


def info_text(slot: HostSlot) -> str:
    """The key=value part as oVirt's `--vm-status` shows it under "extra" (without our crc line)."""
    return "".join(f"{k}={v}\n" for k, v in slot.info.items())


def info_from_text(text: str) -> dict[str, str]:
    """`info_text`'s pairs back from a status's "extra" (lines without "=" are skipped: it is a view,
    not a slot to validate)."""
    return dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)


def host_status_dict(slot: HostSlot) -> dict[str, Any]:
    """One host in the shape of oVirt's `hosted-engine --vm-status --json` (without live-data)."""
    return {
        "host-id": slot.host_id,
        "host-ts": slot.timestamp,
        "score": slot.score,
        "engine-status": dict(slot.engine_status),
        "hostname": slot.hostname,
        "maintenance": slot.maintenance,
        "stopped": slot.stopped,
        "crc32": slot.crc32,
        "conf_on_shared_storage": slot.conf_on_shared_storage,
        "local_conf_timestamp": slot.local_conf_timestamp,
        "extra": info_text(slot),
    }


def status_dict(board: Whiteboard, live: Mapping[int, bool] | None = None) -> dict[str, Any]:
    """The whole board in the shape of oVirt's `--vm-status --json`: host ids as string keys,
    `global_maintenance`, and our `invalid_slots` (slot -> reason). `live` gives each host's
    live-data verdict; without it (a raw dump) live-data is null: nobody judged it."""
    result: dict[str, Any] = {}
    for host_id in sorted(board.hosts):
        entry = host_status_dict(board.hosts[host_id])
        entry["live-data"] = None if live is None else bool(live.get(host_id, False))
        result[str(host_id)] = entry
    result["global_maintenance"] = board.global_maintenance
    invalid = {str(s.slot): s.reason for s in sorted(board.invalid.values(), key=lambda s: s.slot)}
    if isinstance(board.global_, InvalidSlot):
        invalid["0"] = board.global_.reason
    result["invalid_slots"] = invalid
    return result


if __name__ == "__main__":  # `python -m vdsm_hosted_engine.storage.whiteboard dump FILE [--json]`
    import sys

    from vdsm_hosted_engine.cli.whiteboard_dump import main

    sys.exit(main())
