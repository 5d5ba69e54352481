"""The whiteboard codec: oVirt metadata v1 compatibility, round trips, corruption."""

import json
import zlib

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vdsm_hosted_engine.storage import whiteboard as wb
from vdsm_hosted_engine.storage.whiteboard import EmptySlot, GlobalSlot, HostSlot, InvalidSlot

DOWN = {"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}


def ovirt_block(slot=1, record_fields=None, info=b"") -> bytes:
    """A host block built by hand the way oVirt's agent writes it (crc over the record with
    field 9 as 00000000, record NUL-padded to 512, key=value lines NUL-padded to 4096)."""
    fields = record_fields or [
        "1",
        "1",
        "12345",
        str(slot),
        "3400",
        '{"reason": "vm not running on this host", "health": "bad", "vm": "down", "detail": "unknown"}',
        "host1.example.com",
        "0",
        "0",
        "00000000",
        "1",
        "12340",
    ]
    unsigned = "|".join(fields).encode()
    if len(fields) > 9:
        fields = [*fields[:9], f"{zlib.crc32(unsigned) & 0xFFFFFFFF:08x}", *fields[10:]]
    record = "|".join(fields).encode()
    return record.ljust(512, b"\0") + info.ljust(3584, b"\0")


OVIRT_INFO = (
    b"metadata_parse_version=1\nmetadata_feature_version=1\ntimestamp=12345 (Wed Nov 25 05:00:00 2026)\n"
    b"host-id=1\nscore=3400\nvm_conf_refresh_time=12340 (Wed Nov 25 04:59:55 2026)\n"
    b"conf_on_shared_storage=True\nmaintenance=False\nstate=EngineDown\nstopped=False\n"
)


def test_decodes_a_hand_built_ovirt_block_byte_for_byte():
    block = ovirt_block(info=OVIRT_INFO)
    assert len(block) == 4096
    slot = wb.decode_host_slot(1, block)
    assert isinstance(slot, HostSlot)
    assert (slot.host_id, slot.timestamp, slot.score, slot.hostname) == (1, 12345, 3400, "host1.example.com")
    assert dict(slot.engine_status) == DOWN
    assert (slot.maintenance, slot.stopped, slot.conf_on_shared_storage, slot.local_conf_timestamp) == (
        False,
        False,
        True,
        12340,
    )
    record = block[:512].rstrip(b"\0")
    unsigned = record.replace(slot.crc32.encode(), b"00000000")
    assert slot.crc32 == "%08x" % (zlib.crc32(unsigned) & 0xFFFFFFFF)
    assert slot.state == "EngineDown"
    assert dict(slot.extra) == {}
    assert wb.info_text(slot).encode() == OVIRT_INFO
    assert wb.info_from_text(wb.info_text(slot)) == dict(slot.info)


def ovirt_record(slot=1, **changes) -> list[str]:
    """oVirt's 12 record fields (crc placeholder), with some changed: `status="null"` etc."""
    names = ["parse", "feature", "ts", "host", "score", "status", "name", "maint", "stopped", "crc", "conf", "conf_ts"]
    values = dict(zip(names, ovirt_fields(slot), strict=True))
    values.update(changes)
    return [values[n] for n in names]


def ovirt_fields(slot=1) -> list[str]:
    return [
        "1",
        "1",
        "12345",
        str(slot),
        "3400",
        '{"reason": "vm not running on this host", "health": "bad", "vm": "down", "detail": "unknown"}',
        "host1.example.com",
        "0",
        "0",
        "00000000",
        "1",
        "12340",
    ]


@pytest.mark.parametrize("count", [7, 8, 9])
def test_records_without_crc_are_refused(count):
    """oVirt writes 10 fields with crc32 since 1.3.0 (oVirt 3.6) and 12 since 2.1.0: a shorter
    record carries no crc, and a lost maintenance flag in it would go unseen."""
    fields = ["1", "1", "5", "3", "2400", '{"vm": "up", "health": "good"}', "h3", "1", "0"][:count]
    assert wb.decode_host_slot(3, ovirt_block(3, fields)) == InvalidSlot(
        3, f"malformed record: {count} fields, at least 10 (with crc32) expected"
    )


def test_ten_field_record_of_ovirt_3_6_is_read_with_its_crc():
    fields = ["1", "1", "5", "3", "2400", '{"vm": "up", "health": "good"}', "h3", "1", "0", "00000000"]
    slot = wb.decode_host_slot(3, ovirt_block(3, fields))
    assert isinstance(slot, HostSlot)
    assert (slot.score, slot.maintenance, slot.conf_on_shared_storage, slot.local_conf_timestamp) == (
        2400,
        True,
        True,
        0,
    )
    assert len(slot.crc32) == 8


def test_null_engine_status_reads_as_unknown_and_the_host_stays_visible():
    """oVirt's agent writes `null` until its engine monitor answers; oVirt reads it as unknown."""
    slot = wb.decode_host_slot(1, ovirt_block(1, ovirt_record(1, status="null")))
    assert isinstance(slot, HostSlot)
    assert slot.engine_status["vm"] == "unknown"
    assert dict(slot.engine_status) == dict(wb.UNKNOWN_ENGINE_STATUS)
    data = bytearray(4096 * 2)
    data[4096:] = ovirt_block(1, ovirt_record(1, status="null"))
    assert set(wb.decode_whiteboard(bytes(data)).hosts) == {1}


def test_our_record_is_what_ovirt_would_parse():
    slot = HostSlot(1, 12345, 3400, DOWN, "host1.example.com", local_conf_timestamp=12340, state="EngineDown")
    block = wb.encode_host_slot(slot, wall_time=0)
    tokens = block[:512].rstrip(b"\0").decode().split("|")
    assert len(tokens) == 12
    assert tokens[:5] == ["1", "1", "12345", "1", "3400"]
    assert json.loads(tokens[5]) == DOWN
    assert tokens[6:9] == ["host1.example.com", "0", "0"]
    assert tokens[10:] == ["1", "12340"]
    unsigned = "|".join([*tokens[:9], "00000000", *tokens[10:]]).encode()
    assert tokens[9] == f"{zlib.crc32(unsigned) & 0xFFFFFFFF:08x}"
    info = block[512:].rstrip(b"\0").decode().splitlines()
    assert info[:10] == [
        "metadata_parse_version=1",
        "metadata_feature_version=1",
        "timestamp=12345 (Thu Jan 01 00:00:00 1970)",
        "host-id=1",
        "score=3400",
        "vm_conf_refresh_time=12340 (Thu Jan 01 00:00:00 1970)",
        "conf_on_shared_storage=True",
        "maintenance=False",
        "state=EngineDown",
        "stopped=False",
    ]
    assert info[10].startswith("crc32_info=")


def test_pipe_in_engine_status_is_escaped_and_round_trips():
    slot = HostSlot(2, 1, 0, {"vm": "up", "detail": "a|b|c"}, "h2")
    block = wb.encode_host_slot(slot)
    assert block[:512].count(b"|") == 11
    assert wb.decode_host_slot(2, block) == slot


def flipped(block: bytes, index: int) -> bytes:
    """`block` with the byte at `index` changed to another printable character."""
    return block[:index] + (b"9" if block[index : index + 1] != b"9" else b"8") + block[index + 1 :]


OURS = wb.encode_host_slot(HostSlot(1, 12345, 3400, DOWN, "host1", state="EngineDown", extra={"k": "v"}), 0)
OURS_INFO_CRC = OURS.index(b"crc32_info=") + len(b"crc32_info=")


@pytest.mark.parametrize(
    "block, reason",
    [
        # truncated: at the record's size (512), one byte short of the slot (4096), one byte over
        (ovirt_block(1)[:512], "truncated block (512 of 4096 bytes)"),
        (OURS[:512], "truncated block (512 of 4096 bytes)"),
        (ovirt_block(1)[:4095], "truncated block (4095 of 4096 bytes)"),
        (OURS + b"\0", "truncated block (4097 of 4096 bytes)"),
        (b"", "truncated block (0 of 4096 bytes)"),
        # wrong host id
        (ovirt_block(2), "host id 2 written in slot 1"),
        (wb.encode_host_slot(HostSlot(2, 1, 0, DOWN, "h2")), "host id 2 written in slot 1"),
        # version
        (ovirt_block(1, ovirt_record(1, parse="2")), "metadata too new (parse version 2, this agent reads 1)"),
        (ovirt_block(1, ["2", "1", "5"]), "metadata too new (parse version 2, this agent reads 1)"),
        (ovirt_block(1, ovirt_record(1, parse="0")), "bad parse version 0"),
        (ovirt_block(1, ovirt_record(1, parse="x")), "field parse version is not an integer: 'x'"),
        (b"garbage".ljust(4096, b"\0"), "field parse version is not an integer: 'garbage'"),
        (
            ovirt_block(1, ["1", "1", "5", "1", "0", "{}"]),
            "malformed record: 6 fields, at least 10 (with crc32) expected",
        ),
        # bad crc: in the record (bytes 0-511) and in the key=value part (bytes 512-4095)
        (flipped(ovirt_block(1), 4), "bad crc32 (stored ea2425cd, computed 45c0f7e6)"),
        (flipped(OURS, 4), "bad crc32 (stored 96b02ef9, computed 69fbca26)"),
        ("|".join(ovirt_record(1, crc="xyz")).encode().ljust(4096, b"\0"), "field crc32 is not 8 hex digits: 'xyz'"),
        (
            flipped(OURS, 512 + OURS[512:].index(b"EngineDown")),
            "key=value part: bad crc32_info (stored '19c2361d', computed c6e93ef7)",
        ),
        (flipped(OURS, OURS_INFO_CRC), "key=value part: bad crc32_info (stored '99c2361d', computed 19c2361d)"),
        (
            ovirt_block(1, info=b"a=1\ncrc32_info=00000000\n"),
            "key=value part: bad crc32_info (stored '00000000', computed a8e5d715)",
        ),
        # fields
        (ovirt_block(1, ovirt_record(1, status="[]")), "engine status is not a JSON object"),
        (ovirt_block(1, ovirt_record(1, status="{")), "engine status is not JSON"),
        (ovirt_block(1, ovirt_record(1, maint="2")), "field maintenance is not 0 or 1: '2'"),
        (b"\0" + ovirt_block(1)[1:], "starts with NUL but is not empty"),
        (b"\xff" * 4096, "record is not UTF-8 text"),
        (OURS[:600] + b"\0" + OURS[601:], "NUL byte inside the key=value part"),
        (ovirt_block(1, info=b"state=EngineUp\nnonsense\n"), "key=value part: line 2 is not key=value: 'nonsense'"),
        (ovirt_block(1, info=b"state=EngineUp\nours=1\n"), "key=value part: key 'ours' without crc32_info"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_untrusted_blocks_are_reported_with_the_reason(block, reason):
    assert wb.decode_host_slot(1, block) == InvalidSlot(1, reason)


def test_bad_crc_is_reported():
    block = bytearray(ovirt_block(1))
    block[4] = ord("9") if block[4] != ord("9") else ord("8")  # inside the timestamp
    reading = wb.decode_host_slot(1, bytes(block))
    assert isinstance(reading, InvalidSlot) and reading.reason.startswith("bad crc32 (stored ")


def test_empty_slot():
    assert wb.decode_host_slot(7, bytes(4096)) == EmptySlot(7)


def ovirt_reads(area: bytes) -> dict[int, str]:
    """How oVirt's broker cuts the metadata area into slots: the whole area decoded as UTF-8, then
    4096 *characters* per slot (so a multi-byte character shifts every later slot)."""
    text = area.decode()
    return {i // 4096: text[i : i + 4096] for i in range(0, len(text), 4096) if text[i] != "\0"}


def ovirt_global_errors(block: bytes) -> list[str]:
    """The lines oVirt's global-metadata parser logs as "Invalid global metadata key" (it splits
    the NUL-stripped text on newlines and accepts only `maintenance=<value>` lines)."""
    tokens = block.decode().rstrip("\0").split("\n")
    return [t for t in tokens if t.partition("=")[0] != "maintenance" or "=" not in t]


def test_non_ascii_text_is_escaped_and_later_slots_stay_where_ovirt_reads_them():
    slot = HostSlot(
        1,
        10,
        3400,
        {"vm": "down", "health": "bad", "detail": "unknown", "reason": "échec du démarrage"},
        "hôte1.example.com",
        state="EngineDown",
        extra={"note": "naïve ☃ 😀 tab\there", "ascii": "plain=text\\as is"},
    )
    block = wb.encode_host_slot(slot, 0)
    assert all(0x20 <= b <= 0x7E or b in (0x0A, 0x00) for b in block)
    after = HostSlot(2, 10, 3400, DOWN, "host2", state="EngineUp")
    area = bytes(4096) + block + wb.encode_host_slot(after, 0)
    seen = ovirt_reads(area)
    assert seen[2].startswith("1|1|10|2|3400|")  # not shifted by slot 1
    decoded = wb.decode_host_slot(1, block)
    assert decoded.hostname == "h\\xf4te1.example.com"
    assert decoded.engine_status["reason"] == "échec du démarrage"  # JSON escapes come back exactly
    assert dict(decoded.extra) == {"note": "na\\xefve \\u2603 \\U0001f600 tab\\x09here", "ascii": "plain=text\\as is"}
    assert wb.encode_host_slot(decoded, 0) == block  # what was read writes back the same


def test_ascii_text():
    assert wb.ascii_text("café\n|\0\x7f") == "caf\\xe9\\x0a|\\x00\\x7f"
    assert wb.ascii_text("a|b", pipe=False) == "a\\x7cb"
    assert wb.ascii_text("\ud800 €") == "\\ud800 \\u20ac"
    assert wb.ascii_text(wb.ascii_text("ü|", pipe=False), pipe=False) == wb.ascii_text("ü|", pipe=False)


def test_hostname_with_forbidden_characters_is_escaped_not_refused():
    block = wb.encode_host_slot(HostSlot(1, 0, 0, {}, "bad|name\n"))
    assert block[:512].count(b"|") == 11
    assert wb.decode_host_slot(1, block).hostname == "bad\\x7cname\\x0a"


LONG_REASON = "libvirt: " + "error " * 200


def test_long_hostname_and_long_reason_are_cut_not_refused():
    status = {"vm": "down", "health": "bad", "detail": "d" * 300, "reason": LONG_REASON}
    slot = HostSlot(7, 2**40, 3400, status, "h" * 300, state="EngineDown", local_conf_timestamp=2**40)
    block = wb.encode_host_slot(slot, 0)
    assert block[512:].startswith(b"metadata_parse_version=1\n")
    decoded = wb.decode_host_slot(7, block)
    assert isinstance(decoded, HostSlot)
    assert decoded.hostname == "h" * 252 + "..."
    assert (decoded.engine_status["vm"], decoded.engine_status["health"]) == ("down", "bad")
    assert decoded.engine_status["reason"] == "..."  # cut first, to nothing
    assert decoded.engine_status["detail"].startswith("ddd") and decoded.engine_status["detail"].endswith("d...")
    assert len(block[:512].rstrip(b"\0")) == 512  # cut to the limit, not below it


def test_a_short_reason_is_kept_whole_and_only_the_long_one_cut():
    status = {"vm": "up", "health": "good", "detail": "Up", "reason": LONG_REASON}
    decoded = wb.decode_host_slot(1, wb.encode_host_slot(HostSlot(1, 5, 3400, status, "host1.example.com")))
    assert {k: v for k, v in decoded.engine_status.items() if k != "reason"} == {
        "vm": "up",
        "health": "good",
        "detail": "Up",
    }
    assert LONG_REASON.startswith(decoded.engine_status["reason"][:-3]) and decoded.engine_status["reason"].endswith(
        "..."
    )


def test_engine_status_that_cannot_fit_loses_keys_verdicts_last():
    status = {"vm": "up", "health": "good", "a": list(range(200)), "b": {"x": "y" * 300}}
    decoded = wb.decode_host_slot(1, wb.encode_host_slot(HostSlot(1, 5, 3400, status, "h" * 255)))
    assert dict(decoded.engine_status) == {"vm": "up", "health": "good"}


def test_long_extras_are_cut_longest_first_to_fit_the_slot():
    extra = {"big": "x" * 5000, "bigger": "y" * 6000, "small": "keep me"}
    slot = HostSlot(1, 5, 3400, DOWN, "h", state="EngineDown", extra=extra)
    block = wb.encode_host_slot(slot)
    decoded = wb.decode_host_slot(1, block)
    assert decoded.extra["small"] == "keep me"
    assert len(decoded.extra["big"]) == len(decoded.extra["bigger"]) > 1000
    assert decoded.extra["big"].endswith("x...") and decoded.extra["bigger"].endswith("y...")
    assert block.rstrip(b"\0").endswith(b"\n") and len(block) == 4096
    assert len(block[512:].rstrip(b"\0")) >= 3584 - 2  # cut to the limit, not far below it


def test_long_state_is_cut():
    decoded = wb.decode_host_slot(1, wb.encode_host_slot(HostSlot(1, 0, 0, {}, "h", state="S" * 100)))
    assert decoded.state == "S" * 61 + "..."


@pytest.mark.parametrize(
    "slot, problem",
    [
        (HostSlot(0, 0, 0, {}, "h"), "host id 0 out of range 1..2000"),
        (HostSlot(2001, 0, 0, {}, "h"), "host id 2001 out of range 1..2000"),
        (HostSlot(1, 0, 0, {}, "h", extra={"score": "1"}), "extra key 'score' is one of oVirt's standard keys"),
        (HostSlot(1, 0, 0, {}, "h", extra={"crc32_info": "1"}), "extra key 'crc32_info' is one of oVirt's standard"),
        (HostSlot(1, 0, 0, {}, "h", extra={"a b": "1"}), "extra key 'a b'"),
        (HostSlot(1, 0, 0, {}, "h", extra={f"k{i:062}": "" for i in range(60)}), "60 extra keys"),
        (HostSlot(1, 10**600, 0, {}, "h"), "record's numeric fields alone are"),
    ],
)
def test_encoder_refuses_only_programming_errors(slot, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        wb.encode_host_slot(slot)


# -- property-based --------------------------------------------------------------------------------

# ASCII-safe text: printable ASCII (what the encoder writes unchanged).
safe_texts = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
hostnames = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}\Z")
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
statuses = st.dictionaries(st.sampled_from(["vm", "health", "detail", "reason"]), texts, max_size=4)
extra_keys = st.from_regex(r"\A[a-z][a-z0-9_.-]{0,15}\Z").filter(lambda k: k not in wb.STANDARD_INFO_KEYS)
extras = st.dictionaries(extra_keys, safe_texts, max_size=6)
host_slots = st.builds(
    HostSlot,
    host_id=st.integers(1, 2000),
    timestamp=st.integers(0, 2**40),
    score=st.integers(0, 3400),
    engine_status=statuses,
    hostname=hostnames,
    maintenance=st.booleans(),
    stopped=st.booleans(),
    conf_on_shared_storage=st.booleans(),
    local_conf_timestamp=st.integers(0, 2**40),
    state=st.sampled_from(["EngineUp", "EngineDown", "EngineStart", "LocalMaintenance", ""]),
    extra=extras,
)
# Any text at all, of any length, in every text field (keys stay valid: they are the code's choice).
any_texts = st.one_of(st.text(max_size=40), st.text(max_size=2000), st.text(st.characters(max_codepoint=0x7F)))
any_slots = st.builds(
    HostSlot,
    host_id=st.integers(1, 2000),
    timestamp=st.integers(-(2**63), 2**64),
    score=st.integers(-(2**31), 2**31),
    engine_status=st.dictionaries(
        st.one_of(st.sampled_from(["vm", "health", "detail", "reason"]), any_texts), any_texts
    ),
    hostname=any_texts,
    maintenance=st.booleans(),
    stopped=st.booleans(),
    conf_on_shared_storage=st.booleans(),
    local_conf_timestamp=st.integers(-(2**63), 2**64),
    state=any_texts,
    extra=st.dictionaries(extra_keys, any_texts, max_size=12),
)


def _encode(slot):
    return wb.encode_host_slot(slot, wall_time=1_700_000_000)


def _in_bounds(slot) -> bool:
    """Whether nothing of `slot` has to be cut (generous margins: the strategies stay far below)."""
    return len(wb.engine_status_json(slot.engine_status)) + len(slot.hostname) < 300


@given(host_slots)
def test_host_slot_round_trip(slot):
    assume(_in_bounds(slot))
    block = _encode(slot)
    assert len(block) == 4096
    decoded = wb.decode_host_slot(slot.host_id, block)
    assert decoded == slot
    assert len(decoded.crc32) == 8


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(any_slots)
def test_encode_never_raises_on_any_text_and_writes_ascii_that_reads_back(slot):
    block = _encode(slot)
    assert len(block) == 4096
    assert all(0x20 <= b <= 0x7E or b in (0x0A, 0x00) for b in block)
    record = block[:512].rstrip(b"\0")
    assert b"\0" not in record and record.count(b"|") == 11
    decoded = wb.decode_host_slot(slot.host_id, block)
    assert isinstance(decoded, HostSlot)
    assert (decoded.host_id, decoded.timestamp, decoded.score, decoded.maintenance, decoded.stopped) == (
        slot.host_id,
        slot.timestamp,
        slot.score,
        slot.maintenance,
        slot.stopped,
    )
    assert list(decoded.extra) == list(slot.extra)
    assert _encode(decoded) == block  # what was read writes back the same: escapes and cuts are stable


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(host_slots, st.integers(0, 4095), st.integers(0, 255))
def test_any_single_byte_corruption_is_detected_or_harmless(slot, index, value):
    block = _encode(slot)
    assume(block[index] != value)
    damaged = block[:index] + bytes([value]) + block[index + 1 :]
    reading = wb.decode_host_slot(slot.host_id, damaged)
    assert isinstance(reading, (InvalidSlot, EmptySlot)) or reading == slot
    if isinstance(reading, EmptySlot):
        pytest.fail("a damaged block read as empty")


record_like = st.lists(
    st.sampled_from([b"1", b"|", b"0", b"{}", b"h", b"\n", b"=", b"crc32_info=", b"\0"]), max_size=40
)


@given(st.one_of(st.binary(max_size=4096), record_like.map(b"".join)), st.integers(1, 2000))
def test_random_bytes_never_raise(prefix, slot):
    block = prefix[:4096].ljust(4096, b"\0")
    reading = wb.decode_host_slot(slot, block)
    assert isinstance(reading, (HostSlot, EmptySlot, InvalidSlot))


@given(st.binary(max_size=5 * 4096))
def test_random_whiteboards_never_raise(data):
    board = wb.decode_whiteboard(data)
    assert set(board.hosts).isdisjoint(board.invalid)


@pytest.mark.parametrize("maintenance", [False, True])
def test_global_slot_is_written_in_the_form_ovirt_reads_silently(maintenance):
    """oVirt's parser logs an error for every line but `maintenance=<value>` (the empty one after a
    final newline included) each cycle; its own client writes `maintenance=0|1` alone."""
    block = wb.encode_global_slot(GlobalSlot(maintenance))
    assert block == (b"maintenance=1" if maintenance else b"maintenance=0").ljust(4096, b"\0")
    assert ovirt_global_errors(block) == []
    assert wb.decode_global_slot(block) == GlobalSlot(maintenance)


def test_global_slot_with_extras_keeps_its_crc():
    block = wb.encode_global_slot(GlobalSlot(True, {"migration": "none", "note": "é"}))
    assert block.rstrip(b"\0").splitlines()[:3] == [b"maintenance=1", b"migration=none", b"note=\\xe9"]
    assert block.rstrip(b"\0").splitlines()[3].startswith(b"crc32_info=")
    assert wb.decode_global_slot(block) == GlobalSlot(True, {"migration": "none", "note": "\\xe9"})
    big = wb.encode_global_slot(GlobalSlot(False, {"a": "x" * 9000}))
    assert len(big) == 4096 and wb.decode_global_slot(big).extra["a"].endswith("x...")


@pytest.mark.parametrize(
    "text, maintenance",
    [
        (b"", False),
        (b"maintenance=1", True),  # oVirt's client and our encoder
        (b"maintenance=0", False),
        (b"maintenance=1\n", True),  # our encoder before issue 12
        (b"maintenance=True\n", True),
        (b"maintenance=False", False),
        (wb.encode_global_slot(GlobalSlot(False, {"k": "v"})).rstrip(b"\0"), False),
        (b"maintenance=0\ncrc32_info=%08x\n" % (zlib.crc32(b"maintenance=0\n") & 0xFFFFFFFF), False),
    ],
)
def test_global_slot_forms_the_reader_accepts(text, maintenance):
    assert wb.decode_global_slot(text.ljust(4096, b"\0")).maintenance is maintenance


@pytest.mark.parametrize(
    "block, reason",
    [
        (b"maintenance=1".ljust(512, b"\0"), "truncated block (512 of 4096 bytes)"),
        (b"maintenance=1".ljust(4095, b"\0"), "truncated block (4095 of 4096 bytes)"),
        (b"maintenance=yes\n".ljust(4096, b"\0"), "maintenance is not 0 or 1: 'yes'"),
        (b"maintenance=1\n\n".ljust(4096, b"\0"), "key=value part: line 2 is not key=value: ''"),
        (b"maintenancf=1".ljust(4096, b"\0"), "key=value part: key 'maintenancf' without crc32_info"),
        (b"maintenance=1\0x".ljust(4096, b"\0"), "NUL byte inside the global block"),
        (b"\xffmaintenance=1".ljust(4096, b"\0"), "global block is not UTF-8 text"),
        (
            (b"maintenance=1\ncrc32_info=%08x\n" % (zlib.crc32(b"maintenance=0\n") & 0xFFFFFFFF)).ljust(4096, b"\0"),
            "key=value part: bad crc32_info (stored '7ce2b7b0', computed 65f986f1)",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_untrusted_global_blocks_are_reported(block, reason):
    assert wb.decode_global_slot(block) == InvalidSlot(0, reason)


@given(st.booleans(), extras)
def test_global_slot_round_trip(maintenance, extra):
    slot = GlobalSlot(maintenance, extra)
    assert wb.decode_global_slot(wb.encode_global_slot(slot)) == slot


@given(st.booleans(), extras, st.integers(0, 4095), st.integers(0, 255))
def test_global_slot_corruption_is_detected_or_harmless(maintenance, extra, index, value):
    """Detected, except in oVirt's crc-less form the value byte turned into the other value."""
    block = wb.encode_global_slot(GlobalSlot(maintenance, extra))
    assume(block[index] != value)
    reading = wb.decode_global_slot(block[:index] + bytes([value]) + block[index + 1 :])
    if not extra and index == len(b"maintenance=") and value in b"01":
        assert reading == GlobalSlot(not maintenance)
    else:
        assert isinstance(reading, InvalidSlot) or reading == GlobalSlot(maintenance, extra)


@pytest.mark.parametrize(
    "area, valid, reason",
    [
        (wb.encode_global_slot(GlobalSlot(True)), True, None),
        (bytes(4096), True, None),
        (b"garbage".ljust(4096, b"\0"), False, "key=value part: line 1 is not key=value: 'garbage'"),
        (b"maintenance=1\ncrc32_info=00000000\n".ljust(4096, b"\0"), False, "key=value part: bad crc32_info"),
        (b"maintenance=1", False, "metadata area is 13 bytes, shorter than a slot"),
    ],
)
def test_an_unreadable_global_slot_is_told_apart_from_maintenance_off(area, valid, reason):
    board = wb.decode_whiteboard(area)
    assert board.global_valid is valid
    if valid:
        assert board.global_maintenance is (area[12:13] == b"1")
    else:
        assert board.global_maintenance is False  # unknown: callers keep their last valid value
        assert board.global_.reason.startswith(reason)
        assert wb.status_dict(board)["invalid_slots"]["0"] == board.global_.reason


def test_a_board_built_by_hand_is_valid_by_default():
    assert wb.Whiteboard(GlobalSlot(), {}, {}).global_valid


def test_whole_board_sorts_slots():
    good = HostSlot(2, 10, 3400, DOWN, "h2", state="EngineDown")
    data = bytearray(4096 * 2001)
    data[0:4096] = wb.encode_global_slot(GlobalSlot(maintenance=True))
    data[2 * 4096 : 3 * 4096] = wb.encode_host_slot(good)
    data[5 * 4096 : 6 * 4096] = ovirt_block(4)  # host 4's block written into slot 5
    board = wb.decode_whiteboard(bytes(data))
    assert board.global_maintenance
    assert board.hosts == {2: good}
    assert board.invalid == {5: InvalidSlot(5, "host id 4 written in slot 5")}
    status = wb.status_dict(board, live={2: True})
    assert status["2"]["live-data"] is True
    assert status["2"]["engine-status"] == DOWN
    assert status["global_maintenance"] is True
    assert status["invalid_slots"] == {"5": "host id 4 written in slot 5"}


def test_a_slot_cache_decodes_only_changed_slots_and_answers_the_same():
    area = bytearray(4 * wb.SLOT_SIZE)
    for host_id, score in ((1, 3400), (2, 1800)):
        area[host_id * wb.SLOT_SIZE : (host_id + 1) * wb.SLOT_SIZE] = wb.encode_host_slot(
            HostSlot(host_id, 10, score, {"vm": "down"}, f"h{host_id}"), 1.0
        )
    area[3 * wb.SLOT_SIZE : 3 * wb.SLOT_SIZE + 4] = b"junk"
    cache: dict = {}
    first = wb.decode_whiteboard(bytes(area), cache)
    assert first == wb.decode_whiteboard(bytes(area)) and set(cache) == {1, 2, 3}
    kept = cache[1][1]
    area[2 * wb.SLOT_SIZE : 3 * wb.SLOT_SIZE] = wb.encode_host_slot(HostSlot(2, 11, 0, {"vm": "down"}, "h2"), 2.0)
    second = wb.decode_whiteboard(bytes(area), cache)
    assert second == wb.decode_whiteboard(bytes(area))
    assert second.hosts[1] is kept and second.hosts[2].score == 0  # slot 1 reused, slot 2 decoded afresh
