"""One STOMP connection of the RPC server, as an asyncio protocol run by the server's loop thread.

Everything here runs in that one thread; nothing blocks it. Bounds, each with what happens at it:

- Sending: frames go into the transport's buffer. Above `send_high` bytes the connection stops
  reading (no new requests while its answers pile up); an event or answer that would push the buffer
  beyond `send_max` disconnects the connection: a subscriber that falls behind is dropped and logged,
  never waited for (the HA agent's `notify` must not block).
- Requests: at most `inflight` SEND frames of one connection run at once, and the server bounds the
  total; a SEND beyond either waits in `backlog` with reading paused, so a client that floods is
  slowed down by TCP, not buffered in our memory.
- Subscriptions: at most `subscriptions`; one more is an ERROR frame and the connection is closed.
- Time: CONNECT must arrive within `connect_timeout`; a connection that sends nothing for
  `idle_timeout` while it has no event subscription and no call running is closed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import TYPE_CHECKING

from vdsm_hosted_engine.rpc.authorization import common_name
from vdsm_hosted_engine.rpc.destinations import EVENT_QUEUE
from vdsm_hosted_engine.rpc.stomp import HEARTBEAT, Frame, Parser, StompError

if TYPE_CHECKING:
    from vdsm_hosted_engine.rpc.server import Server

logger = logging.getLogger(__name__)


class Connection(asyncio.Protocol):
    def __init__(self, server: Server, name: str) -> None:
        self.server = server
        self.limits = server.limits
        self.name = name
        self.peer = name
        self.parser = Parser(max_body=self.limits.max_body)
        self.subscriptions: dict[str, str] = {}  # id -> destination
        self.heartbeat: float | None = None
        self.transport: asyncio.Transport | None = None
        self.subject: str | None = None  # the TLS client certificate's common name; None off TLS
        self.backlog: collections.deque[Frame] = collections.deque()
        self.inflight = 0
        self.connected = False
        self.closed = False
        self.closing_since: float | None = None
        self._writing_paused = False
        self._reading_paused = False
        now = time.monotonic()
        self.opened = now
        self.last_sent = now
        self.last_received = now

    # -- asyncio callbacks ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.limits.send_high)
        if transport.get_extra_info("sslcontext") is not None:
            self.subject = common_name(transport.get_extra_info("peercert"))
        peer = transport.get_extra_info("peername")
        self.peer = f"{self.name}<-{peer or 'local'}"
        self.opened = self.last_received = self.last_sent = time.monotonic()
        self.server.connection_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.backlog.clear()
        self.server.connection_closed(self)
        logger.debug("x %s", self.peer)

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        try:
            for item in self.parser.feed(data):
                if item is not HEARTBEAT:
                    self.backlog.append(item)
        except StompError as e:
            self.refuse(str(e))
            return
        self.process()

    def eof_received(self) -> bool:
        # EOF without DISCONNECT is how vdsm-client ends: answers still running are dropped.
        return False

    # -- frames -----------------------------------------------------------------------------------

    def process(self) -> None:
        """Handle the parsed frames in order, up to a SEND that must wait for a free request slot."""
        while self.backlog and not self.closed:
            frame = self.backlog[0]
            if frame.command == "SEND" and not self.server.may_dispatch(self):
                break
            self.backlog.popleft()
            try:
                self.handle(frame)
            except StompError as e:
                self.refuse(str(e))
                return
        self._update_reading()

    def handle(self, frame: Frame) -> None:
        logger.debug("< %s %s", self.peer, frame.command)
        command = frame.command
        if command in ("CONNECT", "STOMP"):
            wanted = frame.headers.get("heart-beat", "0,0")
            try:
                _cx, cy = (int(x) for x in wanted.split(","))
            except ValueError:
                raise StompError(f"bad heart-beat header {wanted!r}") from None
            if cy < 0 or cy > 24 * 3600 * 1000:
                raise StompError(f"bad heart-beat header {wanted!r}")
            self.heartbeat = cy / 1000.0 if cy > 0 else None
            self.connected = True
            self.send_frame(Frame("CONNECTED", {"version": "1.2", "heart-beat": f"{cy},0"}))
        elif command == "SUBSCRIBE":
            if "destination" not in frame.headers or "id" not in frame.headers:
                raise StompError("SUBSCRIBE needs destination and id")
            if frame.headers["id"] not in self.subscriptions and len(self.subscriptions) >= self.limits.subscriptions:
                raise StompError(f"more than {self.limits.subscriptions} subscriptions on one connection")
            self.subscriptions[frame.headers["id"]] = frame.headers["destination"]
        elif command == "UNSUBSCRIBE":
            self.subscriptions.pop(frame.headers.get("id", ""), None)
        elif command == "SEND":
            self.server.dispatch(self, frame.body, frame.headers.get("reply-to"))
        elif command == "DISCONNECT":
            if "receipt" in frame.headers:
                self.send_frame(Frame("RECEIPT", {"receipt-id": frame.headers["receipt"]}))
            self.close()
        else:
            raise StompError(f"unexpected {command} frame from a client")

    def subscription_for(self, destination: str) -> str | None:
        for sub_id, dest in self.subscriptions.items():
            if dest == destination:
                return sub_id
        return None

    # -- sending ----------------------------------------------------------------------------------

    def send_frame(self, frame: Frame) -> bool:
        """Queue a frame; False (and the connection dropped) when the peer has fallen too far behind."""
        logger.debug("> %s %s %s", self.peer, frame.command, frame.headers.get("destination", ""))
        return self.send(frame.encode())

    def send(self, data: bytes) -> bool:
        if self.closed or self.transport is None:
            return False
        pending = self.transport.get_write_buffer_size()
        if pending and pending + len(data) > self.limits.send_max:
            logger.warning("x %s: disconnected, it fell behind (%d bytes not read)", self.peer, pending)
            self.abort()
            return False
        self.transport.write(data)
        self.last_sent = time.monotonic()
        return True

    def tick(self, now: float) -> None:
        """Heart-beats and deadlines, called by the server's loop a few times a second."""
        if self.closed:
            # A peer that does not read would hold a gracefully closing connection forever.
            if self.closing_since is not None and now - self.closing_since > self.limits.connect_timeout:
                self.abort()
            return
        if not self.connected and now - self.opened > self.limits.connect_timeout:
            logger.info("x %s: no CONNECT within %.0f s", self.peer, self.limits.connect_timeout)
            self.abort()
            return
        busy = self.inflight or self.backlog or self.subscription_for(EVENT_QUEUE) is not None
        if not busy and now - self.last_received > self.limits.idle_timeout:
            logger.info("x %s: idle for %.0f s", self.peer, self.limits.idle_timeout)
            self.abort()
            return
        # Half the client's window: a heart-beat always lands well inside it. Nothing is added
        # while earlier bytes are still unsent: the peer is not reading them anyway.
        if (
            self.heartbeat
            and self.transport is not None
            and now - self.last_sent >= self.heartbeat / 2
            and not self.transport.get_write_buffer_size()
        ):
            self.send(b"\n")

    # -- closing ----------------------------------------------------------------------------------

    def refuse(self, message: str) -> None:
        logger.info("! %s: %s", self.peer, message)
        self.send_frame(Frame("ERROR", {"message": message}, message.encode()))
        self.close()

    def close(self) -> None:
        """Close after what is queued has been sent."""
        self.backlog.clear()
        if self.transport is not None and not self.closed:
            self.closed = True
            self.closing_since = time.monotonic()
            self.transport.close()

    def abort(self) -> None:
        """Close now, dropping what is queued."""
        self.backlog.clear()
        if self.transport is not None:
            self.closed = True
            self.closing_since = None
            self.transport.abort()

    def _update_reading(self) -> None:
        if self.transport is None or self.closed:
            return
        pause = self._writing_paused or bool(self.backlog)
        if pause and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        elif not pause and self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
