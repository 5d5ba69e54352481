"""What careless or hostile clients do to a daemon's RPC socket, in bounded classes, for the fuzz/load
test (tests/integration/rpc/test_daemon_abuse.py) and bench/rpc_load.py.

Each class is a function `(socket_path, method, rng) -> str` that runs against a Unix socket, closes
every socket it opened before returning, stays within a few seconds and a few hundred connections,
and returns what it did in a few words. `method` is a verb the server answers (getStatus on a
daemon). Nothing here checks the server: the caller does, after each class.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import time
from collections.abc import Callable

from vdsm_hosted_engine.rpc.server import EVENT_QUEUE, REQUEST_QUEUE
from vdsm_hosted_engine.rpc.stomp import Frame

Abuse = Callable[[str, str, random.Random], str]

CONNECT = Frame("CONNECT", {"accept-version": "1.2", "heart-beat": "0,1000"}).encode()


def _connect(path: str, timeout: float = 5.0, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(path)
    return sock


def _send(method: str, body: bytes | None = None, reply_to: str = "r") -> bytes:
    if body is None:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": {}}).encode()
    headers = {"destination": REQUEST_QUEUE, "reply-to": reply_to, "content-length": str(len(body))}
    return Frame("SEND", headers, body).encode()


def _close(socks: list[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()


def _send_until_blocked(sock: socket.socket, data: bytes, times: int) -> int:
    """Send `data` up to `times` times; stop when the server stops reading (backpressure)."""
    for sent in range(times):
        try:
            sock.sendall(data)
        except (TimeoutError, OSError):
            return sent
    return times


def stalled_subscribers(path: str, method: str, rng: random.Random) -> str:
    """Subscribers of the event queue that never read, with a tiny receive buffer, while requests
    they never read the answers of pile up."""
    socks = []
    try:
        for _ in range(20):
            sock = _connect(path, timeout=2, rcvbuf=4096)
            sock.sendall(CONNECT + Frame("SUBSCRIBE", {"destination": EVENT_QUEUE, "id": "e"}).encode())
            _send_until_blocked(sock, _send(method), 50)
            socks.append(sock)
        time.sleep(1.0)  # held while the agent publishes its cycles
    finally:
        _close(socks)
    return "20 event subscribers that never read, 50 unread answers each, held 1 s"


def unread_flood(path: str, method: str, rng: random.Random) -> str:
    """One connection sends 2,000 requests and reads none of the answers."""
    sock = _connect(path, timeout=3)
    try:
        sock.sendall(CONNECT + Frame("SUBSCRIBE", {"destination": "r", "id": "1"}).encode())
        sent = _send_until_blocked(sock, _send(method), 2000)
    finally:
        _close([sock])
    return f"2,000 requests, answers never read ({sent} sent before the server paused reading)"


def big_bodies(path: str, method: str, rng: random.Random) -> str:
    """Bodies just under and over the server's limit, answers never read."""
    padding = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": {"pad": "p" * 900_000}}).encode()
    socks = []
    try:
        for _ in range(10):
            sock = _connect(path, timeout=3)
            sock.sendall(CONNECT)
            _send_until_blocked(sock, _send(method, padding), 5)
            socks.append(sock)
        sock = _connect(path, timeout=3)
        socks.append(sock)
        sock.sendall(CONNECT)
        _send_until_blocked(sock, _send(method, b"[" + b" " * 2_000_000 + b"]"), 1)
    finally:
        _close(socks)
    return "10 connections x 5 requests of 900 KB unread, one of 2 MB"


NASTY = [
    b"BOGUS\n\n\0",
    b"SEND\ncontent-length:zz\n\n\0",
    b"SEND\ncontent-length:99999999999\n\n",
    b"CONNECT\nheart-beat:0,99999999999999\n\n\0",
    b"SUBSCRIBE\n\n\0",
    b"SEND\nbad\\escape:x\n\n\0",
    b"SEND\n" + b"h" * 70_000,
    b"\xff\xfe" * 100,
    b"\n" * 10_000,
]
BODIES = [
    b"[" * 5000 + b"]" * 5000,
    b'{"jsonrpc": "2.0", "id": 1, "method": "%s", "params": {"x": NaN}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "%s", "params": {"hostId": 1e309}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "%s", "params": []}',
    b"[]",
    b"null",
    b'{"jsonrpc": "2.0", "id": {"a": [1, 2]}, "method": 7}',
]


def garbage(path: str, method: str, rng: random.Random) -> str:
    """300 connections of malformed frames, bad JSON bodies and random bytes."""
    for i in range(300):
        sock = _connect(path, timeout=2)
        try:
            sock.sendall(CONNECT)
            kind = i % 3
            if kind == 0:
                sock.sendall(rng.choice(NASTY))
            elif kind == 1:
                body = rng.choice(BODIES)
                sock.sendall(_send(method, body.replace(b"%s", method.encode())))
            else:
                sock.sendall(rng.randbytes(rng.randrange(1, 2048)))
        except (TimeoutError, OSError):
            pass  # the server closed a connection that sent garbage
        finally:
            _close([sock])
    return "300 connections of malformed frames, bad JSON and random bytes"


def connection_flood(path: str, method: str, rng: random.Random) -> str:
    """More connections than the server takes, held open, some saying CONNECT and nothing more."""
    socks = []
    try:
        for i in range(200):
            try:
                sock = _connect(path, timeout=2)
            except OSError:
                break  # the listen backlog is full: the server sheds load
            socks.append(sock)
            if i % 2:
                with contextlib.suppress(OSError):
                    sock.sendall(CONNECT)
    finally:
        _close(socks)
    return f"{len(socks)} connections at once, held open, half of them silent"


CLASSES: dict[str, Abuse] = {
    "stalled-subscribers": stalled_subscribers,
    "unread-flood": unread_flood,
    "big-bodies": big_bodies,
    "garbage": garbage,
    "connection-flood": connection_flood,
}
