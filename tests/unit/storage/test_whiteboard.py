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


def test_decodes_minimal_seven_field_ovirt_record():
    fields = ["1", "1", "5", "3", "2400", '{"vm": "up", "health": "good"}', "h3"]
    slot = wb.decode_host_slot(3, ovirt_block(3, fields))
    assert isinstance(slot, HostSlot)
    assert (slot.score, slot.maintenance, slot.stopped, slot.crc32) == (2400, False, False, "")


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


@pytest.mark.parametrize(
    "block, reason",
    [
        (ovirt_block(1)[:512], "truncated block (512 of 4096 bytes)"),
        (ovirt_block(1)[:4095], "truncated block (4095 of 4096 bytes)"),
        (ovirt_block(2), "host id 2 written in slot 1"),
        (
            ovirt_block(1, ["2", "1", "5", "1", "0", "{}", "h"]),
            "metadata too new (parse version 2, this agent reads 1)",
        ),
        (ovirt_block(1, ["x", "1", "5", "1", "0", "{}", "h"]), "field parse version is not an integer: 'x'"),
        (ovirt_block(1, ["1", "1", "5", "1", "0", "{}"]), "malformed record: 6 fields, at least 7 expected"),
        (ovirt_block(1, ["1", "1", "5", "1", "0", "[]", "h"]), "engine status is not a JSON object"),
        (ovirt_block(1, ["1", "1", "5", "1", "0", "{", "h"]), "engine status is not JSON"),
        (ovirt_block(1, ["1", "1", "5", "1", "0", "{}", "h", "2"]), "field maintenance is not 0 or 1: '2'"),
        (b"\0" + ovirt_block(1)[1:], "starts with NUL but is not empty"),
        (b"\xff" * 4096, "record is not UTF-8 text"),
        (ovirt_block(1, info=b"state=EngineUp\nnonsense\n"), "key=value part: line 2 is not key=value: 'nonsense'"),
        (
            ovirt_block(1, info=b"a=1\ncrc32_info=00000000\n"),
            "key=value part: bad crc32_info (stored '00000000', computed a8e5d715)",
        ),
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


@pytest.mark.parametrize(
    "slot, problem",
    [
        (HostSlot(1, 0, 0, {}, "bad|name"), "hostname contains forbidden character '|'"),
        (HostSlot(1, 0, 0, {}, ""), "hostname is empty"),
        (HostSlot(0, 0, 0, {}, "h"), "host id 0 out of range 1..2000"),
        (HostSlot(1, 0, 0, {}, "h", extra={"score": "1"}), "extra key 'score' is one of oVirt's standard keys"),
        (HostSlot(1, 0, 0, {}, "h", extra={"a b": "1"}), "extra key 'a b'"),
        (HostSlot(1, 0, 0, {}, "h", extra={"k": "x\ny"}), "extra value of k contains forbidden character"),
        (HostSlot(1, 0, 0, {"detail": "x" * 600}, "h"), "more than 512"),
        (HostSlot(1, 0, 0, {}, "h", extra={"k": "x" * 4000}), "more than 3584"),
    ],
)
def test_encoder_refuses_what_it_cannot_write_faithfully(slot, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|")):
        wb.encode_host_slot(slot)


# -- property-based --------------------------------------------------------------------------------

hostnames = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}\Z")
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
statuses = st.dictionaries(st.sampled_from(["vm", "health", "detail", "reason"]), texts, max_size=4)
extras = st.dictionaries(
    st.from_regex(r"\A[a-z][a-z0-9_.-]{0,15}\Z").filter(lambda k: k not in wb.STANDARD_INFO_KEYS),
    st.text(st.characters(blacklist_characters="\n\0", blacklist_categories=("Cs",)), max_size=30),
    max_size=6,
)
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


def _encode_or_skip(slot):
    try:
        return wb.encode_host_slot(slot, wall_time=1_700_000_000)
    except ValueError:
        assume(False)


@given(host_slots)
def test_host_slot_round_trip(slot):
    block = _encode_or_skip(slot)
    assert len(block) == 4096
    decoded = wb.decode_host_slot(slot.host_id, block)
    assert decoded == slot
    assert len(decoded.crc32) == 8


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(host_slots, st.integers(0, 4095), st.integers(0, 255))
def test_any_single_byte_corruption_is_detected_or_harmless(slot, index, value):
    block = _encode_or_skip(slot)
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


@given(st.booleans(), extras)
def test_global_slot_round_trip(maintenance, extra):
    slot = GlobalSlot(maintenance, extra)
    assert wb.decode_global_slot(wb.encode_global_slot(slot)) == slot


@given(st.booleans(), extras, st.integers(0, 4095), st.integers(0, 255))
def test_global_slot_corruption_is_detected_or_harmless(maintenance, extra, index, value):
    block = wb.encode_global_slot(GlobalSlot(maintenance, extra))
    assume(block[index] != value)
    reading = wb.decode_global_slot(block[:index] + bytes([value]) + block[index + 1 :])
    assert isinstance(reading, InvalidSlot) or reading == GlobalSlot(maintenance, extra)


def test_ovirt_global_block_without_crc():
    block = b"maintenance=1\n".ljust(4096, b"\0")
    assert wb.decode_global_slot(block) == GlobalSlot(maintenance=True)
    assert wb.decode_global_slot(bytes(4096)) == GlobalSlot(maintenance=False)
    assert wb.decode_global_slot(b"maintenance=yes\n".ljust(4096, b"\0")) == InvalidSlot(
        0, "maintenance is not 0 or 1: 'yes'"
    )


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
