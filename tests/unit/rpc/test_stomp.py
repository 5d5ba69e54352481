"""STOMP 1.2 framing: escapes, content-length, heart-beats, any split of the stream, bad input."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vdsm_hosted_engine.rpc.stomp import HEARTBEAT, Frame, Parser, StompError


def parse_all(data, chunk=None):
    parser, out = Parser(), []
    step = chunk or len(data) or 1
    for i in range(0, len(data), step):
        out += parser.feed(data[i : i + step])
    return out


def test_vdsm_client_connect_and_subscribe_pipelined():
    data = b"CONNECT\naccept-version:1.2\nheart-beat:0,24000\n\n\0SUBSCRIBE\ndestination:r1\nid:s1\nack:auto\n\n\0"
    frames = parse_all(data)
    assert [f.command for f in frames] == ["CONNECT", "SUBSCRIBE"]
    assert frames[0].headers == {"accept-version": "1.2", "heart-beat": "0,24000"}


def test_escaped_headers_both_ways():
    frame = Frame("MESSAGE", {"destination": "a:b\\c\nd", "x": "y"}, b"body")
    encoded = frame.encode()
    assert b"destination:a\\cb\\\\c\\nd\n" in encoded
    assert parse_all(encoded) == [
        Frame("MESSAGE", {"destination": "a:b\\c\nd", "x": "y", "content-length": "4"}, b"body")
    ]


def test_connect_headers_are_not_escaped():
    assert parse_all(b"CONNECT\nhost:a\\cb\n\n\0")[0].headers == {"host": "a\\cb"}


def test_content_length_allows_nul_in_body_and_crlf_and_heartbeats():
    data = b"\n\r\nSEND\r\ncontent-length:3\r\n\r\na\0b\0\n"
    assert parse_all(data) == [HEARTBEAT, HEARTBEAT, Frame("SEND", {"content-length": "3"}, b"a\0b"), HEARTBEAT]


def test_first_repeated_header_wins():
    assert parse_all(b"SEND\nfoo:1\nfoo:2\n\n\0")[0].headers == {"foo": "1"}


@given(
    st.sampled_from(["SEND", "MESSAGE", "SUBSCRIBE", "ERROR"]),
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12), max_size=4),
    st.binary(max_size=200),
    st.integers(1, 50),
)
def test_round_trip_in_any_split(command, headers, body, chunk):
    headers = {k: v for k, v in headers.items() if k != "content-length"}
    frame = Frame(command, headers, body)
    frames = parse_all(frame.encode() * 2, chunk)
    expected_headers = {**headers, **({"content-length": str(len(body))} if body else {})}
    assert frames == [Frame(command, expected_headers, body)] * 2


@pytest.mark.parametrize(
    "data, message",
    [
        (b"BOGUS\n\n\0", "unknown command b.BOGUS."),
        (b"SEND\nno-colon\n\n\0", "header line without ':'"),
        (b"SEND\nx:\\t\n\n\0", "undefined escape"),
        (b"SEND\ncontent-length:abc\n\n\0", "bad content-length"),
        (b"SEND\ncontent-length:-1\n\n\0", "out of range"),
        (b"SEND\ncontent-length:1\n\nab\0", "not followed by NUL"),
        (b"\xff\xfe\n\n\0", "unknown command"),
    ],
)
def test_bad_frames_are_refused(data, message):
    with pytest.raises(StompError, match=message):
        parse_all(data)


def test_oversized_heads_and_bodies_are_refused():
    with pytest.raises(StompError, match="frame head longer"):
        Parser(max_header=100).feed(b"SEND\n" + b"x:" + b"y" * 200)
    with pytest.raises(StompError, match="frame body longer"):
        Parser(max_body=100).feed(b"SEND\n\n" + b"z" * 200)


@given(st.binary(max_size=300))
def test_garbage_never_crashes_the_parser(data):
    with contextlib.suppress(StompError):
        parse_all(data)
