"""The whiteboard codec: per-host metadata blocks, byte-compatible with oVirt's metadata v1.

This module is pure (bytes in, values out). File I/O is in `whiteboard_file.py`; the admin's dump
command is `python -m vdsm_hosted_engine.cli.whiteboard_dump`.

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

Global block (slot 0), NUL padded, in one of two forms:

    `maintenance=0` or `maintenance=1`, with no newline and nothing else: the form oVirt's own
        client writes and the only one its reader takes without logging an error (it splits the
        text on "\\n" and logs "Invalid global metadata key" for every other line, the empty one
        after a final newline included, every cycle). The encoder writes this form whenever there
        are no extra fields, i.e. always today. It has no crc, as in oVirt: a damaged block is still
        refused unless it is exactly `maintenance=<value>` with an optional final newline, but a
        flip of the value byte between "0" and "1" goes unseen.
    `maintenance=0|1\\n`, our own fields as lines, then `crc32_info=<8 hex>\\n`: written only when
        the GlobalSlot has extra fields (oVirt's agents then log one error per extra line).

The reader takes both forms, and `maintenance=True|False` (older writers). An all-NUL global block
means no flag is set.

Text is ASCII. oVirt's reader decodes the whole metadata area as UTF-8 and cuts it into slots by
character count, so one multi-byte character would shift every later slot. The encoder therefore
writes printable ASCII only (0x20-0x7e):
  - the engine status is JSON with every non-ASCII or control character escaped (`\\u00e9`) and "|"
    written as `\\u007c`: a JSON reader gets the exact value back;
  - the hostname, the state and extra values (`ascii_text`): every character outside 0x20-0x7e,
    and "|" in the hostname, becomes its Python escape (`\\xe9`, `\\u20ac`, `\\U0001f600`, `\\x0a`
    for a newline, `\\x7c`). A reader sees the escaped text (it is not unescaped: a backslash is
    ordinary ASCII, so no reading could tell an escape from text that looks like one); encoding
    again gives the same bytes. Printable ASCII is written as it is and reads back unchanged.

Sizes: the encoder never writes past the record (512) or the slot (4096); it cuts what it must
instead of failing, and a cut value ends with "..." (the marker counts in the limit):
  - the hostname to HOSTNAME_MAX (255) characters, after escaping;
  - then, if the record is still too long, the engine status's string values, in this order:
    "reason", "detail", the other keys (sorted), "health", "vm", each to the longest prefix that
    fits (a value that is not a string is dropped instead); if that is not enough, keys are
    dropped in the same order (an engine status of `{}` reads as unknown); only if even `{}` does
    not fit is the hostname cut below 255;
  - the state to STATE_MAX (64) characters;
  - extra values, longest first, to one common length, so that the key=value part fits (short
    values are kept whole).
The encoder raises ValueError only for what no data can cause, the caller's bugs: a host id outside
1..2000, an extra key that does not match [A-Za-z0-9_.-]{1,64} or that reuses one of oVirt's keys,
so many extra keys that their names alone overflow the key=value part, integers so large that the
record's numeric fields alone overflow it; json.dumps' TypeError for an engine status holding
values JSON cannot represent.

Invariants the encoder keeps: every byte written is printable ASCII, "\\n" or NUL padding; the
engine status JSON and the hostname never contain "|"; a host block always has its crcs. Our extra
fields live only in the key=value part, where oVirt's readers ignore them.

What a reader does with a block (`decode_host_slot`, `decode_global_slot`): it never raises. An all-NUL
block is empty (`EmptySlot`). Anything it cannot trust is an `InvalidSlot` carrying the reason (NUL
inside the text, malformed record, field not a number, version too new, host id not the slot, crc
mismatch, key=value part damaged): such a block is ignored and reported, never used. A record must
have at least 10 fields, so that its crc32 covers it: oVirt's agents write 10 fields with crc since
ovirt-hosted-engine-ha 1.3.0 (oVirt 3.6, 2015) and 12 since 2.1.0 (oVirt 4.1); the 7-9 field
records of older agents carry no crc, and damage to them (a lost maintenance flag) would go unseen.
An engine status of JSON `null` (oVirt writes it while its engine monitor has no result yet) reads
as an unknown engine status (`UNKNOWN_ENGINE_STATUS`), as oVirt reads it; the host stays visible.
oVirt-written blocks lack `crc32_info`; their key=value part is accepted as oVirt accepts it (the
record's crc still protects every field that decisions use).

An unreadable global block (bad crc, garbage, truncated) is reported in `Whiteboard.global_` as an
`InvalidSlot`; `Whiteboard.global_valid` is then False and `global_maintenance` False, which then
only means "not known": a caller that remembers the last valid value should keep it.

Write order: a host writes only its own slot (one aligned 4096-byte write, while it holds its sanlock
host id); the global slot is read, modified and written back whole.

Reading cycle: a reader that reads the area every few seconds keeps a `SlotCache` (slot -> the block's
last bytes and its reading) and passes it to `decode_whiteboard`, which decodes only the slots whose
bytes changed since; the others cost one 4096-byte comparison. Decoding is pure and readings are
immutable, so a kept reading is the one a fresh decode would give.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import CorruptBlock

if TYPE_CHECKING:
    import mmap

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

# What a record's engine status of JSON null reads as (oVirt reads it as unknown too).
UNKNOWN_ENGINE_STATUS: Mapping[str, str] = MappingProxyType(
    {"vm": "unknown", "health": "unknown", "detail": "unknown", "reason": "engine status not reported (null)"}
)

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
SlotCache: TypeAlias = "dict[int, tuple[bytes, SlotReading]]"
"""A reader's last bytes and reading per slot, for `decode_whiteboard`."""


# -- encoding --------------------------------------------------------------------------------------

HOSTNAME_MAX = 255
STATE_MAX = 64
CUT_MARK = "..."

# The engine status's keys, in the order the encoder cuts their values (the others come between,
# sorted): the free-text explanations first, the verdicts other hosts act on last.
_STATUS_CUT_FIRST = ("reason", "detail")
_STATUS_CUT_LAST = ("health", "vm")


def _ctime(seconds: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(seconds))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_NOT_PRINTABLE_OR_PIPE = re.compile(r"[^\x20-\x7b\x7d\x7e]")


def ascii_text(value: str, pipe: bool = True) -> str:
    """`value` as printable ASCII: every character outside 0x20-0x7e (and "|" unless `pipe`)
    becomes its Python escape (\\xe9, \\u20ac, \\U0001f600); printable ASCII stays as it is.
    Idempotent: the result is its own ascii_text."""
    return (_NOT_PRINTABLE if pipe else _NOT_PRINTABLE_OR_PIPE).sub(_escape, value)


def _cut(value: str, limit: int) -> str:
    """`value` if it fits in `limit` characters, else its prefix ending with CUT_MARK."""
    if len(value) <= limit:
        return value
    if limit < len(CUT_MARK):
        return value[: max(limit, 0)]
    return value[: limit - len(CUT_MARK)] + CUT_MARK


def engine_status_json(status: Mapping[str, Any]) -> str:
    """Compact, key-sorted JSON with "|" escaped, so the record's field separator never appears."""
    return json.dumps(dict(status), sort_keys=True, ensure_ascii=True).replace("|", "\\u007c")


def _status_cut_order(status: Mapping[str, Any]) -> list[str]:
    first = [k for k in _STATUS_CUT_FIRST if k in status]
    last = [k for k in _STATUS_CUT_LAST if k in status]
    return first + sorted(k for k in status if k not in first and k not in last) + last


def _fit_status(status: Mapping[str, Any], budget: int) -> str | None:
    """The engine status JSON in at most `budget` characters, values cut or keys dropped as the
    module docstring says; None when not even `{}` fits."""
    text = engine_status_json(status)
    if len(text) <= budget:
        return text
    work = dict(status)
    order = _status_cut_order(work)
    for key in order:  # cut string values, drop the others
        value = work[key]
        if isinstance(value, str):
            if len(value) <= len(CUT_MARK):
                continue
            # The longest prefix (+ mark) that fits; JSON escapes make the length non-linear.
            lo, hi, best = 0, len(value) - len(CUT_MARK), None
            while lo <= hi:
                mid = (lo + hi) // 2
                work[key] = value[:mid] + CUT_MARK
                if len(engine_status_json(work)) <= budget:
                    best, lo = mid, mid + 1
                else:
                    hi = mid - 1
            work[key] = CUT_MARK if best is None else value[:best] + CUT_MARK
        else:
            del work[key]
        text = engine_status_json(work)
        if len(text) <= budget:
            return text
    for key in order:  # then drop what is left, in the same order
        if key in work:
            del work[key]
            text = engine_status_json(work)
            if len(text) <= budget:
                return text
    return None


def _check_extra_keys(extra: Mapping[str, str]) -> None:
    for key in extra:
        if not isinstance(key, str) or not _EXTRA_KEY.match(key):
            raise ValueError(f"extra key {key!r} is not [A-Za-z0-9_.-]{{1,64}}")
        if key in STANDARD_INFO_KEYS:
            raise ValueError(f"extra key {key!r} is one of oVirt's standard keys")


def _fit_values(values: list[str], budget: int) -> list[str]:
    """`values` cut, longest first, to one common length so that their total is at most `budget`."""
    if sum(map(len, values)) <= budget:
        return values
    lo, hi = 0, max(map(len, values))  # the largest common limit that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(len(v), mid) for v in values) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return [_cut(v, lo) for v in values]


def _info_lines(pairs: list[tuple[str, str]], extra: Mapping[str, str], size: int, what: str) -> bytes:
    """key=value lines (`pairs`, then `extra` with ASCII values cut to fit) and the trailing
    crc32_info line over them, at most `size` bytes."""
    fixed = "".join(f"{k}={v}\n" for k, v in pairs)
    crc_line = len(f"{INFO_CRC_KEY}=00000000\n")
    budget = size - len(fixed) - crc_line - sum(len(k) + 2 for k in extra)
    if budget < 0:
        raise ValueError(f"{what}: {len(extra)} extra keys and the standard lines leave no room in {size} bytes")
    values = _fit_values([ascii_text(v) for v in extra.values()], budget)
    text = fixed + "".join(f"{k}={v}\n" for k, v in zip(extra, values, strict=True))
    crc = zlib.crc32(text.encode("ascii")) & 0xFFFFFFFF
    return (text + f"{INFO_CRC_KEY}={crc:08x}\n").encode("ascii")


def encode_host_slot(slot: HostSlot, wall_time: float | None = None) -> bytes:
    """The 4096 bytes of `slot`, printable ASCII. `wall_time` only dates the human-readable lines.

    Text is escaped and cut to fit as the module docstring says; ValueError only for the caller's
    bugs listed there (nothing half-encoded is returned).
    """
    if not 1 <= slot.host_id <= constants.MAX_HOST_ID:
        raise ValueError(f"host id {slot.host_id} out of range 1..{constants.MAX_HOST_ID}")
    _check_extra_keys(slot.extra)
    fields_ = [
        str(PARSE_VERSION),
        str(FEATURE_VERSION),
        str(int(slot.timestamp)),
        str(slot.host_id),
        str(int(slot.score)),
        "",  # engine status, fitted below
        "",  # hostname, fitted below
        "1" if slot.maintenance else "0",
        "1" if slot.stopped else "0",
        CRC_PLACEHOLDER,
        "1" if slot.conf_on_shared_storage else "0",
        str(int(slot.local_conf_timestamp)),
    ]
    room = RECORD_SIZE - len("|".join(fields_))  # for the engine status and the hostname
    hostname = _cut(ascii_text(slot.hostname, pipe=False), HOSTNAME_MAX)
    status = _fit_status(slot.engine_status, room - len(hostname))
    if status is None:
        status = "{}"
        if room < len(status):
            raise ValueError(f"record's numeric fields alone are {RECORD_SIZE - room} bytes: no room in {RECORD_SIZE}")
        hostname = _cut(hostname, room - len(status))
    fields_[5], fields_[6] = status, hostname
    unsigned = "|".join(fields_).encode("ascii")
    fields_[9] = f"{zlib.crc32(unsigned) & 0xFFFFFFFF:08x}"
    record = "|".join(fields_).encode("ascii")

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
        ("state", _cut(ascii_text(slot.state), STATE_MAX)),
        ("stopped", str(bool(slot.stopped))),
    ]
    info = _info_lines(pairs, slot.extra, INFO_SIZE, "key=value part")
    return record.ljust(RECORD_SIZE, b"\0") + info.ljust(INFO_SIZE, b"\0")


def encode_global_slot(slot: GlobalSlot) -> bytes:
    """The 4096 bytes of the global block: `maintenance=0|1` alone (oVirt's form, which its agents
    read silently) unless there are extra fields; then key=value lines with crc32_info."""
    _check_extra_keys(slot.extra)
    value = "1" if slot.maintenance else "0"
    if not slot.extra:
        return f"maintenance={value}".encode("ascii").ljust(SLOT_SIZE, b"\0")
    return _info_lines([("maintenance", value)], slot.extra, SLOT_SIZE, "global block").ljust(SLOT_SIZE, b"\0")


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
    # The version first, as oVirt does: a newer format may have fewer fields.
    parse_version = _int_field(slot, tokens, 0, "parse version")
    if parse_version > PARSE_VERSION:
        raise CorruptBlock(slot, f"metadata too new (parse version {parse_version}, this agent reads {PARSE_VERSION})")
    if parse_version < 1:
        raise CorruptBlock(slot, f"bad parse version {parse_version}")
    if len(tokens) < 10:
        raise CorruptBlock(slot, f"malformed record: {len(tokens)} fields, at least 10 (with crc32) expected")
    _int_field(slot, tokens, 1, "feature version")
    timestamp = _int_field(slot, tokens, 2, "timestamp")
    host_id = _int_field(slot, tokens, 3, "host id")
    if host_id != slot:
        raise CorruptBlock(slot, f"host id {host_id} written in slot {slot}")
    score = _int_field(slot, tokens, 4, "score")
    stored = tokens[9]
    if not _HEX8.match(stored):
        raise CorruptBlock(slot, f"field crc32 is not 8 hex digits: {stored[:20]!r}")
    unsigned = "|".join([*tokens[:9], CRC_PLACEHOLDER, *tokens[10:]])
    computed = f"{zlib.crc32(unsigned.encode('utf-8')) & 0xFFFFFFFF:08x}"
    if stored != computed:
        raise CorruptBlock(slot, f"bad crc32 (stored {stored}, computed {computed})")
    try:
        status = json.loads(tokens[5])
    except ValueError:
        raise CorruptBlock(slot, "engine status is not JSON") from None
    if status is None:  # oVirt's agent before its engine monitor answered
        status = dict(UNKNOWN_ENGINE_STATUS)
    if not isinstance(status, dict):
        raise CorruptBlock(slot, "engine status is not a JSON object")
    hostname = tokens[6]
    maintenance = _flag_field(slot, tokens, 7, "maintenance")
    stopped = _flag_field(slot, tokens, 8, "stopped")
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
        crc32=stored,
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
    def global_valid(self) -> bool:
        """False when the global block could not be trusted (`global_` is an InvalidSlot): then
        `global_maintenance` says False for want of knowing, not because the flag is off."""
        return isinstance(self.global_, GlobalSlot)

    @property
    def global_maintenance(self) -> bool:
        return isinstance(self.global_, GlobalSlot) and self.global_.maintenance


def iter_slots(data: bytes | mmap.mmap) -> Iterator[tuple[int, bytes]]:
    """(slot number, block) for every complete host slot in `data`, up to MAX_HOST_ID."""
    count = min(len(data) // SLOT_SIZE - 1, constants.MAX_HOST_ID)
    for slot in range(1, count + 1):
        yield slot, data[slot * SLOT_SIZE : (slot + 1) * SLOT_SIZE]


def decode_whiteboard(data: bytes | mmap.mmap, cache: SlotCache | None = None) -> Whiteboard:
    """Decode a whole metadata area (bytes, or the reader's mmap buffer: nothing returned refers to
    it); never raises, whatever `data` holds.

    `cache`, when given, is used and updated: a slot whose bytes did not change since is not decoded
    again. A slot that became empty leaves the cache."""
    if len(data) < SLOT_SIZE:
        return Whiteboard(InvalidSlot(0, f"metadata area is {len(data)} bytes, shorter than a slot"), {}, {})
    hosts: dict[int, HostSlot] = {}
    invalid: dict[int, InvalidSlot] = {}
    for slot, block in iter_slots(data):
        if block[0] == 0 and block == _EMPTY_BLOCK:
            if cache is not None:
                cache.pop(slot, None)
            continue
        known = cache.get(slot) if cache is not None else None
        if known is not None and known[0] == block:
            reading = known[1]
        else:
            reading = decode_host_slot(slot, block)
            if cache is not None:
                cache[slot] = (block, reading)
        if isinstance(reading, HostSlot):
            hosts[slot] = reading
        elif isinstance(reading, InvalidSlot):
            invalid[slot] = reading
    return Whiteboard(decode_global_slot(data[:SLOT_SIZE]), hosts, invalid)


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


if __name__ == "__main__":  # the dump command moved out of this pure codec; say where it went
    import sys

    sys.exit("the whiteboard dump is: python -m vdsm_hosted_engine.cli.whiteboard_dump dump FILE [--json]")
