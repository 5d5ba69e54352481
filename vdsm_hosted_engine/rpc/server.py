"""The JSON-RPC over STOMP server, wire-compatible with vdsmd (REFERENCE.md).

- Listeners: a Unix socket (mode 0600) always; TCP with TLS (client certificate required) when
  configured; plain TCP only on a loopback address and only when asked for.
- Per connection: frames are handled in order, so a SUBSCRIBE sent before CONNECTED arrived is fine;
  CONNECT is answered with `heart-beat:<cy>,0` and a `\\n` is sent whenever nothing else went out
  for that long, also while a call runs; SEND to the request queue runs the JSON-RPC body on a worker
  pool (a slow verb blocks nobody) and the answer is a MESSAGE to `reply-to`, carrying the `id` of
  the SUBSCRIBE for that destination as `subscription`. EOF without DISCONNECT is normal.
- Events: `notify(method, params)` sends a JSON-RPC notification to every subscriber of
  `jms.queue.events`. It only hands the event to the loop: it never waits for a client.
- Bad input (malformed frames, non-JSON bodies) gets an ERROR frame or a JSON-RPC error; the
  server stays up.

One asyncio event loop thread does all socket I/O (no thread per connection); only the verbs run
on the worker pool. Every resource a client can make us hold is bounded by `Limits` (see
`rpc/connection.py` for what happens at each bound); the TLS handshake has one deadline for the
whole of it, and an accept that fails for lack of file descriptors is retried after a pause,
logged once, so a listener never dies.

Wire debug lines: `>` sent, `<` received, `x` closing, `!` error.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.rpc import jsonrpc
from vdsm_hosted_engine.rpc.authorization import Policy
from vdsm_hosted_engine.rpc.connection import Connection
from vdsm_hosted_engine.rpc.destinations import EVENT_QUEUE, REQUEST_QUEUE
from vdsm_hosted_engine.rpc.stomp import Frame

logger = logging.getLogger(__name__)
DEFAULT_PORT = 54322
TICK = 0.2  # seconds between heart-beat and deadline checks
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

__all__ = ["DEFAULT_PORT", "EVENT_QUEUE", "REQUEST_QUEUE", "Limits", "Policy", "Server", "tls_context"]


@dataclass(frozen=True)
class Limits:
    """What one client, or all of them, can make the server hold."""

    connections: int = 64  # open connections per listener; more are accepted and closed at once
    subscriptions: int = 16  # per connection
    inflight: int = 4  # calls of one connection running at once
    queued: int = 64  # calls running or waiting for a worker, all connections together
    send_high: int = 1024 * 1024  # unsent bytes of a connection above which its reading pauses
    send_max: int = 8 * 1024 * 1024  # unsent bytes beyond which the connection is dropped
    max_body: int = 1024 * 1024  # one request frame's body
    tls_handshake_timeout: float = 10.0  # the whole handshake, however slowly the bytes trickle in
    connect_timeout: float = 10.0  # from accept (after TLS) to the CONNECT frame
    idle_timeout: float = 600.0  # nothing received, no call running, no event subscription
    accept_backoff: float = 1.0  # pause before accepting again when out of file descriptors


class Server:
    def __init__(
        self,
        methods: Mapping[str, jsonrpc.Method],
        workers: int = 16,
        limits: Limits | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.methods = methods
        self.limits = limits or Limits()
        self.policy = policy or Policy()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpc-worker")
        self.addresses: list[str] = []
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()  # guards _connections: the loop changes it, notify() reads it
        self._listeners: list[socket.socket] = []
        self._open_per_listener: dict[str, int] = {}
        self._queued = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: list[asyncio.Task] = []
        self._opening: set[asyncio.Task] = set()  # connections in their TLS handshake

    # -- the loop thread ------------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="rpc-loop", daemon=True)
            self._thread.start()
            self._call(self._spawn(self._ticker()))
        return self._loop

    def _call(self, coroutine):
        """Run a coroutine on the loop from another thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._running_loop()).result()

    async def _spawn(self, coroutine) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coroutine))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            for connection in list(self._connections):
                try:
                    connection.tick(now)
                except Exception:  # a bug must not end the heart-beats of every connection
                    logger.exception("bug in the deadlines of %s", connection.peer)
                    connection.abort()

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
        sock.listen(socket.SOMAXCONN)  # a burst waits in the kernel, not refused
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
        sock.listen(socket.SOMAXCONN)  # a burst waits in the kernel, not refused
        bound = sock.getsockname()[1]
        self._add_listener(sock, tls, f"{'tls' if tls else 'tcp'}:{host}:{bound}")
        return bound

    def _add_listener(self, sock: socket.socket, tls: ssl.SSLContext | None, name: str) -> None:
        sock.setblocking(False)
        self._listeners.append(sock)
        self.addresses.append(name)
        self._open_per_listener[name] = 0
        self._call(self._spawn(self._accept(sock, tls, name)))
        logger.info("listening on %s", name)

    async def _accept(self, listener: socket.socket, tls: ssl.SSLContext | None, name: str) -> None:
        loop = asyncio.get_running_loop()
        starved = full = False
        while True:
            try:
                sock, address = await loop.sock_accept(listener)
            except Exception as e:  # the listener must outlive any failure of one accept
                if not isinstance(e, OSError):
                    logger.exception("%s: bug in accept", name)
                elif e.errno not in _OUT_OF_RESOURCES:
                    logger.warning("%s: accept failed: %s", name, e)
                elif not starved:
                    logger.error(
                        "%s: cannot accept a connection (%s); retrying every %g s",
                        name,
                        e.strerror,
                        self.limits.accept_backoff,
                    )
                    starved = True
                await asyncio.sleep(self.limits.accept_backoff)
                continue
            # An accept that succeeds at once does not yield: without this, a backlog of connections
            # would be drained before the loop sees the ones that closed meanwhile (the cap's count).
            await asyncio.sleep(0)
            if starved:
                logger.info("%s: accepting connections again", name)
                starved = False
            if self._open_per_listener[name] >= self.limits.connections:
                if not full:
                    logger.warning("%s: %d connections open, refusing more", name, self.limits.connections)
                    full = True
                sock.close()
                continue
            full = False
            self._open_per_listener[name] += 1
            task = loop.create_task(self._open(sock, address, tls, name))
            self._opening.add(task)  # the loop keeps weak references only
            task.add_done_callback(self._opening.discard)

    async def _open(self, sock: socket.socket, address, tls: ssl.SSLContext | None, name: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                lambda: Connection(self, name),
                sock,
                ssl=tls,
                ssl_handshake_timeout=self.limits.tls_handshake_timeout if tls is not None else None,
            )
        except Exception as e:  # TimeoutError, OSError, SSLError: the client's; anything else: ours
            if isinstance(e, OSError):  # (ssl.SSLError and TimeoutError are OSErrors)
                logger.info("! TLS handshake from %s refused: %s", address, e or type(e).__name__)
            else:
                logger.exception("bug opening a connection from %s", address)
            self._open_per_listener[name] -= 1
            with contextlib.suppress(OSError):
                sock.close()

    def connection_opened(self, connection: Connection) -> None:
        with self._lock:
            self._connections.add(connection)

    def connection_closed(self, connection: Connection) -> None:
        with self._lock:
            if connection not in self._connections:
                return
            self._connections.discard(connection)
        self._open_per_listener[connection.name] -= 1

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        """Heart-beats and deadlines run from the first listener on; this only makes sure of it."""
        self._running_loop()

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            if not loop.is_running():
                loop.close()
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def _shutdown(self) -> None:
        for task in [*self._tasks, *self._opening]:
            task.cancel()
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.close()
        for connection in list(self._connections):
            connection.abort()
        await asyncio.sleep(0)  # let the transports call connection_lost

    # -- calls ----------------------------------------------------------------------------------

    def may_dispatch(self, connection: Connection) -> bool:
        return connection.inflight < self.limits.inflight and self._queued < self.limits.queued

    def dispatch(self, connection: Connection, body: bytes, reply_to: str | None) -> None:
        """Run a request on the worker pool; the answer is sent from the loop when it is done."""
        connection.inflight += 1
        self._queued += 1
        try:
            subject = connection.subject
            permitted = None if subject is None else (lambda method: self.policy.permits(subject, method))
            future = self.pool.submit(jsonrpc.handle, self.methods, body, permitted)
        except RuntimeError:  # the pool is shut down: the server is stopping
            connection.inflight -= 1
            self._queued -= 1
            return
        loop = asyncio.get_running_loop()

        def done(f: Future) -> None:  # in the worker thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server has stopped
                loop.call_soon_threadsafe(self._answered, connection, reply_to, f)

        future.add_done_callback(done)

    def _answered(self, connection: Connection, reply_to: str | None, future: Future) -> None:
        connection.inflight -= 1
        self._queued -= 1
        try:
            answer = None if future.cancelled() else future.result()
        except Exception:
            logger.exception("bug answering a request from %s", connection.peer)
            answer = None
        if answer is not None and reply_to is not None and not connection.closed:
            headers = {"destination": reply_to, "content-type": "application/json", "message-id": str(uuid.uuid4())}
            subscription = connection.subscription_for(reply_to)
            if subscription is not None:
                headers["subscription"] = subscription
            connection.send_frame(Frame("MESSAGE", headers, answer))
        # A slot is free: the connections whose next frame waits for one go on, this one first.
        connection.process()
        for other in list(self._connections):
            if other.backlog and other is not connection:
                other.process()

    # -- events ---------------------------------------------------------------------------------

    def notify(self, method: str, params: dict) -> int:
        """Hand a JSON-RPC notification for every subscriber of the event queue to the loop, without
        waiting for any client; how many subscribers there are now."""
        loop = self._loop
        if loop is None:
            return 0
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params}).encode()
        with self._lock:
            connections = list(self._connections)
        # dict(...) copies atomically under the GIL while the loop thread may be changing it.
        subscribers = sum(1 for c in connections if EVENT_QUEUE in dict(c.subscriptions).values())
        try:
            loop.call_soon_threadsafe(self._broadcast, body)
        except RuntimeError:  # the loop is closed: the server has stopped
            return 0
        return subscribers

    def _broadcast(self, body: bytes) -> None:
        for connection in list(self._connections):
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


def tls_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    """Server TLS with VDSM's PKI files; clients must present a certificate signed by `ca`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context
