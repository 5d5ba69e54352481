"""JSON-RPC 2.0 dispatch: results, batches, notifications, every error code."""

import json

import pytest

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.rpc import jsonrpc


def boom(params):
    raise RuntimeError("bug")


def refuse(params):
    raise InvalidRequest("no such host 9")


METHODS = {"Host.echo": lambda p: p, "Host.boom": boom, "Host.refuse": refuse}


def call(body):
    answer = jsonrpc.handle(METHODS, body if isinstance(body, bytes) else json.dumps(body).encode())
    return None if answer is None else json.loads(answer)


def test_result_and_batch():
    assert call({"jsonrpc": "2.0", "id": 1, "method": "Host.echo", "params": {"a": 1}}) == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {"a": 1},
    }
    batch = call([{"jsonrpc": "2.0", "id": 1, "method": "Host.echo"}, {"jsonrpc": "2.0", "method": "Host.echo"}])
    assert batch == [{"jsonrpc": "2.0", "id": 1, "result": {}}]


def test_notifications_are_not_answered():
    assert call({"jsonrpc": "2.0", "method": "Host.echo"}) is None
    assert call([{"jsonrpc": "2.0", "method": "Host.echo"}]) is None


@pytest.mark.parametrize(
    "body, code",
    [
        (b"{not json", -32700),
        (b"\xff", -32700),
        ([], -32600),
        ({"id": 1, "method": "Host.echo"}, -32600),
        ({"jsonrpc": "2.0", "id": 1}, -32600),
        ("just a string", -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "Host.nope"}, -32601),
        ({"jsonrpc": "2.0", "id": 1, "method": "Host.echo", "params": [1]}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "Host.boom"}, -32603),
        ({"jsonrpc": "2.0", "id": 1, "method": "Host.refuse"}, 9002),
    ],
)
def test_error_codes(body, code):
    answer = call(body)
    assert answer["error"]["code"] == code


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # got no answer and no log
        b'{"jsonrpc": "2.0", "id": 1, "method": "Host.echo", "params": {"x": NaN}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "Host.echo", "params": {"x": -Infinity}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "Host.echo", "params": {"x": 1e309}}',
    ],
    ids=["deep", "nan", "infinity", "too-large"],
)
def test_what_is_not_strict_json_is_a_parse_error(body):
    assert call(body) == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
