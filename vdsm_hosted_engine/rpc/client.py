"""A JSON-RPC over STOMP client that behaves exactly like vdsm-client (REFERENCE.md).

CONNECT with `heart-beat:0,<window>`, SUBSCRIBE to a fresh reply destination before CONNECTED
arrives, SEND each request to the request queue with `reply-to`, and end with EOF (no DISCONNECT).
A call fails when nothing at all (not even a heart-beat) arrives for `window` seconds: long calls
succeed because the server heart-beats. Heart-beats do not extend a call forever: each call (and
the CONNECT exchange) also fails once `deadline` seconds have passed since it began, so a stalled
server cannot hang `--vm-status` or a VDSM hook.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.rpc.destinations import EVENT_QUEUE, REQUEST_QUEUE
from vdsm_hosted_engine.rpc.stomp import HEARTBEAT, Frame, Parser

if TYPE_CHECKING:  # ssl costs every hosted-engine process ~10 ms; only TCP callers pass a context
    import ssl


SOCKET_NAME = "hosted-engine.sock"  # the daemon's Unix socket, in its run_dir


def daemon_socket(run_dir: str) -> str:
    return os.path.join(run_dir, SOCKET_NAME)


def daemon_answers(run_dir: str) -> bool:
    """Whether a daemon accepts connections on `run_dir`'s socket (a file left behind is no daemon)."""
    path = daemon_socket(run_dir)
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


class ClientError(HostedEngineError):
    """The call failed: a server error (with its code) or a transport problem."""

    def __init__(self, message: str, code: int = 100) -> None:
        super().__init__(message)
        self.code = code


DEFAULT_DEADLINE = 300.0  # longer than any verb takes (joinHost included)


class Client:
    def __init__(self, sock: socket.socket, window: float = 30.0, deadline: float = DEFAULT_DEADLINE) -> None:
        self.sock = sock
        self.window = window
        self.deadline = deadline
        self._until = time.monotonic() + deadline
        self.parser = Parser()
        self.reply_to = f"jms.topic.vdsm_responses.{uuid.uuid4()}"
        self.sub_id = str(uuid.uuid4())
        self.events: list[dict[str, Any]] = []
        self._pending: list[Frame] = []
        sock.sendall(Frame("CONNECT", {"accept-version": "1.2", "heart-beat": f"0,{int(window * 1000)}"}).encode())
        sock.sendall(Frame("SUBSCRIBE", {"destination": self.reply_to, "id": self.sub_id, "ack": "auto"}).encode())
        connected = self._receive(lambda f: f.command in ("CONNECTED", "ERROR"))
        if connected.command == "ERROR":
            raise ClientError(f"server refused the connection: {connected.headers.get('message', '')}")

    @classmethod
    def unix(cls, path: str, window: float = 30.0, deadline: float = DEFAULT_DEADLINE) -> Client:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(min(window, deadline))
        give_up = time.monotonic() + min(window, deadline)
        while True:
            try:
                sock.connect(path)
                break
            except BlockingIOError:  # the listen backlog is full: the server is catching up
                if time.monotonic() > give_up:
                    sock.close()
                    raise ClientError(f"{path} accepts no connection (its backlog is full)") from None
                time.sleep(0.05)
            except OSError:
                sock.close()
                raise
        return cls(sock, window, deadline)

    @classmethod
    def tcp(
        cls,
        host: str,
        port: int,
        tls: ssl.SSLContext | None = None,
        window: float = 30.0,
        deadline: float = DEFAULT_DEADLINE,
    ) -> Client:
        sock = socket.create_connection((host, port), timeout=min(window, deadline))
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=host)
        return cls(sock, window, deadline)

    def subscribe_events(self) -> None:
        self.sock.sendall(
            Frame("SUBSCRIBE", {"destination": EVENT_QUEUE, "id": str(uuid.uuid4()), "ack": "auto"}).encode()
        )

    def next_event(self) -> dict[str, Any]:
        """The next event of the subscription (`subscribe_events` first); waits while the server's
        heart-beats keep coming."""
        if not self.events:
            self._until = float("inf")  # no deadline for the next event: the heart-beat window catches a dead server
            frame = self._receive(lambda f: f.command == "MESSAGE" and f.headers.get("destination") == EVENT_QUEUE)
            self.events.append(json.loads(frame.body))
        return self.events.pop(0)

    def _receive(self, wanted) -> Frame:
        for index, frame in enumerate(self._pending):
            if wanted(frame):
                return self._pending.pop(index)
        while True:
            left = self._until - time.monotonic()
            if left <= 0:
                raise ClientError(f"no answer within {self.deadline:.0f} s")
            self.sock.settimeout(min(self.window, left))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                if left <= self.window:
                    raise ClientError(f"no answer within {self.deadline:.0f} s") from None
                raise ClientError(f"no answer and no heart-beat for {self.window:.0f} s") from None
            if not data:
                raise ClientError("connection closed by the server")
            for item in self.parser.feed(data):
                if item is HEARTBEAT:
                    continue
                if wanted(item):
                    return item
                if item.headers.get("destination") == EVENT_QUEUE:
                    self.events.append(json.loads(item.body))
                else:
                    self._pending.append(item)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self._until = time.monotonic() + self.deadline
        request_id = str(uuid.uuid4())
        body = json.dumps([{"jsonrpc": "2.0", "method": method, "params": params or {}, "id": request_id}]).encode()
        self.sock.sendall(
            Frame(
                "SEND",
                {
                    "destination": REQUEST_QUEUE,
                    "reply-to": self.reply_to,
                    "content-type": "application/json",
                    "content-length": str(len(body)),
                },
                body,
            ).encode()
        )

        def is_reply(frame: Frame) -> bool:
            return frame.command == "MESSAGE" and frame.headers.get("subscription") == self.sub_id

        while True:
            frame = self._receive(is_reply)
            answer = json.loads(frame.body)
            answers = answer if isinstance(answer, list) else [answer]
            for item in answers:
                if item.get("id") == request_id:
                    if "error" in item:
                        raise ClientError(
                            f"(code={item['error']['code']}, message={item['error']['message']})", item["error"]["code"]
                        )
                    return item["result"]

    def close(self) -> None:
        """EOF, as vdsm-client ends (no DISCONNECT)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
