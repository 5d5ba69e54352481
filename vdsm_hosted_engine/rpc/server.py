"""The JSON-RPC over STOMP server, wire-compatible with vdsmd (REFERENCE.md).

- Listeners: a Unix socket (mode 0600) always; TCP with TLS (client certificate required) when
  configured; plain TCP only on a loopback address and only when asked for.
- Per connection: frames are handled in order, so a SUBSCRIBE sent before CONNECTED arrived is fine;
  CONNECT is answered with `heart-beat:<cy>,0` and a `\\n` is sent whenever nothing else went out
  for that long, also while a call runs; SEND to the request queue runs the JSON-RPC body on a worker
  pool (a slow verb blocks nobody) and the answer is a MESSAGE to `reply-to`, carrying the `id` of
  the SUBSCRIBE for that destination as `subscription`. EOF without DISCONNECT is normal.
- Events: `notify(method, params)` sends a JSON-RPC notification to every subscriber of
  `jms.queue.events`.
- Bad input (malformed frames, non-JSON bodies) gets an ERROR frame or a JSON-RPC error; the
  server stays up.

Wire debug lines: `>` sent, `<` received, `x` closing, `!` error.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.rpc import jsonrpc
from vdsm_hosted_engine.rpc.destinations import EVENT_QUEUE
from vdsm_hosted_engine.rpc.stomp import HEARTBEAT, Frame, Parser, StompError

logger = logging.getLogger(__name__)

DEFAULT_PORT = 54322


class Connection:
    def __init__(self, server: Server, sock: socket.socket, peer: str) -> None:
        self.server = server
        self.sock = sock
        self.peer = peer
        self.parser = Parser()
        self.subscriptions: dict[str, str] = {}  # id -> destination
        self.heartbeat: float | None = None
        self.last_sent = time.monotonic()
        self._send_lock = threading.Lock()
        self.closed = False

    def send(self, data: bytes) -> None:
        with self._send_lock:
            if self.closed:
                return
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True
                return
            self.last_sent = time.monotonic()

    def send_frame(self, frame: Frame) -> None:
        logger.debug("> %s %s %s", self.peer, frame.command, frame.headers.get("destination", ""))
        self.send(frame.encode())

    def subscription_for(self, destination: str) -> str | None:
        for sub_id, dest in self.subscriptions.items():
            if dest == destination:
                return sub_id
        return None

    def serve(self) -> None:
        try:
            while not self.closed:
                try:
                    data = self.sock.recv(65536)
                except (OSError, ssl.SSLError):
                    break
                if not data:
                    break
                try:
                    for item in self.parser.feed(data):
                        if item is not HEARTBEAT:
                            self.handle(item)
                except StompError as e:
                    logger.info("! %s: %s", self.peer, e)
                    self.send_frame(Frame("ERROR", {"message": str(e)}, str(e).encode()))
                    break
        finally:
            self.close()

    def handle(self, frame: Frame) -> None:
        logger.debug("< %s %s", self.peer, frame.command)
        command = frame.command
        if command in ("CONNECT", "STOMP"):
            wanted = frame.headers.get("heart-beat", "0,0")
            try:
                _cx, cy = (int(x) for x in wanted.split(","))
            except ValueError:
                raise StompError(f"bad heart-beat header {wanted!r}") from None
            self.heartbeat = cy / 1000.0 if cy > 0 else None
            self.send_frame(Frame("CONNECTED", {"version": "1.2", "heart-beat": f"{max(cy, 0)},0"}))
        elif command == "SUBSCRIBE":
            if "destination" not in frame.headers or "id" not in frame.headers:
                raise StompError("SUBSCRIBE needs destination and id")
            self.subscriptions[frame.headers["id"]] = frame.headers["destination"]
        elif command == "UNSUBSCRIBE":
            self.subscriptions.pop(frame.headers.get("id", ""), None)
        elif command == "SEND":
            reply_to = frame.headers.get("reply-to")
            self.server.pool.submit(self.server.dispatch, self, frame.body, reply_to)
        elif command == "DISCONNECT":
            if "receipt" in frame.headers:
                self.send_frame(Frame("RECEIPT", {"receipt-id": frame.headers["receipt"]}))
            self.closed = True
        else:
            raise StompError(f"unexpected {command} frame from a client")

    def close(self) -> None:
        with self._send_lock:
            self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
        self.server.forget(self)
        logger.debug("x %s", self.peer)


class Server:
    def __init__(self, methods: Mapping[str, jsonrpc.Method], workers: int = 16) -> None:
        self.methods = methods
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpc-worker")
        self._connections: set[Connection] = set()
        self._listeners: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.addresses: list[str] = []

    # -- listeners -----------------------------------------------------------------------------

    def listen_unix(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(64)
        self._add_listener(sock, None, f"unix:{path}")

    def listen_tcp(self, host: str, port: int, tls: ssl.SSLContext | None = None, allow_plain: bool = False) -> int:
        """Listen on TCP; plain (no TLS) only on a loopback address and only with `allow_plain`."""
        if tls is None:
            if not allow_plain:
                raise InvalidRequest("plain TCP must be asked for explicitly; configure TLS instead")
            if not ipaddress.ip_address(host).is_loopback:
                raise InvalidRequest(f"plain TCP is allowed on a loopback address only, not {host}")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
        bound = sock.getsockname()[1]
        self._add_listener(sock, tls, f"{'tls' if tls else 'tcp'}:{host}:{bound}")
        return bound

    def _add_listener(self, sock: socket.socket, tls: ssl.SSLContext | None, name: str) -> None:
        self._listeners.append(sock)
        self.addresses.append(name)
        thread = threading.Thread(target=self._accept, args=(sock, tls, name), name=f"rpc-accept-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)
        logger.info("listening on %s", name)

    def _accept(self, listener: socket.socket, tls: ssl.SSLContext | None, name: str) -> None:
        while not self._stop.is_set():
            try:
                sock, address = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._open, args=(sock, address, tls, name), daemon=True).start()

    def _open(self, sock: socket.socket, address, tls: ssl.SSLContext | None, name: str) -> None:
        if tls is not None:
            try:
                sock.settimeout(10)
                sock = tls.wrap_socket(sock, server_side=True)
                sock.settimeout(None)
            except (ssl.SSLError, OSError) as e:
                logger.info("! TLS handshake from %s refused: %s", address, e)
                with contextlib.suppress(OSError):
                    sock.close()
                return
        connection = Connection(self, sock, f"{name}<-{address or 'local'}")
        with self._lock:
            self._connections.add(connection)
        connection.serve()

    def forget(self, connection: Connection) -> None:
        with self._lock:
            self._connections.discard(connection)

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        thread = threading.Thread(target=self._heartbeats, name="rpc-heartbeat", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _heartbeats(self) -> None:
        while not self._stop.wait(0.2):
            now = time.monotonic()
            with self._lock:
                connections = list(self._connections)
            for connection in connections:
                # Half the client's window: a heart-beat always lands well inside it.
                if connection.heartbeat and now - connection.last_sent >= connection.heartbeat / 2:
                    connection.send(b"\n")

    def stop(self) -> None:
        self._stop.set()
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def dispatch(self, connection: Connection, body: bytes, reply_to: str | None) -> None:
        answer = jsonrpc.handle(self.methods, body)
        if answer is None or reply_to is None:
            return
        headers = {"destination": reply_to, "content-type": "application/json", "message-id": str(uuid.uuid4())}
        subscription = connection.subscription_for(reply_to)
        if subscription is not None:
            headers["subscription"] = subscription
        connection.send_frame(Frame("MESSAGE", headers, answer))

    def notify(self, method: str, params: dict) -> int:
        """A JSON-RPC notification to every subscriber of the event queue; how many got it."""
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params}).encode()
        with self._lock:
            connections = list(self._connections)
        sent = 0
        for connection in connections:
            subscription = connection.subscription_for(EVENT_QUEUE)
            if subscription is not None:
                connection.send_frame(
                    Frame(
                        "MESSAGE",
                        {
                            "destination": EVENT_QUEUE,
                            "subscription": subscription,
                            "content-type": "application/json",
                            "message-id": str(uuid.uuid4()),
                        },
                        body,
                    )
                )
                sent += 1
        return sent


def tls_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    """Server TLS with VDSM's PKI files; clients must present a certificate signed by `ca`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context
