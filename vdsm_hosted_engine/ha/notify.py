"""Notifications: state transitions and alerts, e-mailed off the agent's thread.

What is sent (oVirt's broker.conf `[notify]`, in the shared configuration here):
- a state transition `Old-New` (e.g. `EngineUp-EngineMigratingAway`) when `he.notifyPattern`
  (oVirt's `state_transition`, default `maintenance|start|stop|migrate|up|down`, searched without
  regard to case) matches it;
- every alert.

Rate: per kind (transitions; each alert text), the first event of a window of `he.notifyWindow`
seconds (default 300; 0: no limit) is sent at once; the others in that window are counted, and one
summary with their count and the last of them is sent when the window ends. A flapping host thus
sends at most two mails per window.

Threads: `transition()` and `alert()` only put the event on a bounded queue and return; one worker
thread reads the settings (storage I/O) and talks SMTP. A server that hangs holds the worker up to
the SMTP timeout per exchange, never the agent; while the queue is full new events are dropped and
counted (`dropped`). Every event is also kept in `recent` (the last 100) for `--events`.
"""

from __future__ import annotations

import collections
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.ha import mail
from vdsm_hosted_engine.storage.shared_keys import DEFAULT_NOTIFY_PATTERN, checked

logger = logging.getLogger(__name__)

TRANSITION = "transition"
ALERT = "alert"
DEFAULT_WINDOW = "300"
QUEUE_SIZE = 64
RECENT = 100


@dataclass(frozen=True)
class Event:
    kind: str  # TRANSITION or ALERT
    detail: str  # `Old-New` for a transition, the text for an alert
    sentence: str  # the agent's cycle sentence (transitions)
    wall: float  # seconds since the epoch
    number: int = 0  # 1, 2, ... in the order this daemon saw them (a follower skips what it has)

    @property
    def key(self) -> str:
        """What the rate limit counts together: all transitions; each distinct alert."""
        return TRANSITION if self.kind == TRANSITION else f"{ALERT}:{self.detail}"


@dataclass
class _Window:
    ends: float
    suppressed: int = 0
    last: Event | None = None


@dataclass(frozen=True)
class Summary:
    """Events held back in a window that ended: how many, and the last of them."""

    count: int
    last: Event
    window: float


class Throttle:
    """Pure rate limit and de-duplication (the clock is passed in): see the module docstring."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._open: dict[str, _Window] = {}

    def offer(self, event: Event, now: float) -> bool:
        """True: send `event` now; False: it was counted into its window's summary."""
        current = self._open.get(event.key)
        if current is not None and now < current.ends:
            current.suppressed += 1
            current.last = event
            return False
        if self.window > 0:
            self._open[event.key] = _Window(now + self.window)
        return True

    def due(self, now: float) -> list[Summary]:
        """The summaries of the windows ended by `now` that held events back (each once)."""
        summaries = []
        for key, window in list(self._open.items()):
            if now >= window.ends:
                del self._open[key]
                if window.last is not None:
                    summaries.append(Summary(window.suppressed, window.last, self.window))
        return summaries

    def next_due(self) -> float | None:
        """When the next window that held events back ends."""
        ends = [w.ends for w in self._open.values() if w.last is not None]
        return min(ends) if ends else None


def as_dict(event: Event) -> dict[str, Any]:
    """The wire form (getEvents, the `|hosted-engine|event|<host id>` events)."""
    return {
        "number": event.number,
        "time": event.wall,
        "kind": event.kind,
        "detail": event.detail,
        "sentence": event.sentence,
    }


def subject(event: Event, hostname: str, host_id: int) -> str:
    where = f"{hostname} (host {host_id})"
    if event.kind == TRANSITION:
        return f"hosted-engine on {where}: {event.detail}"
    return f"hosted-engine alert on {where}"


def body(event: Event, hostname: str, host_id: int, summary: Summary | None = None) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(event.wall))
    if event.kind == TRANSITION:
        text = f"State transition {event.detail} at {when}: {event.sentence}."
    else:
        text = f"Alert at {when}: {event.detail}"
    if summary is not None:
        what = "state transitions" if event.kind == TRANSITION else "times the same alert"
        text = f"{summary.count} more {what} in {summary.window:.0f} s, held back by the rate limit; the last:\n{text}"
    return f"{text}\n\nSent by vdsm-hosted-engine on {hostname} (host id {host_id}).\n"


class Notifications:
    """The queue and its worker; `load` returns the shared configuration's values (called on the
    worker only; raises HostedEngineError when unreadable)."""

    def __init__(
        self,
        host_id: int,
        hostname: str,
        load: Callable[[], Mapping[str, str]],
        password_file: str | None = None,
        ca_file: str | None = None,
        queue_size: int = QUEUE_SIZE,
        smtp_timeout: float = 10.0,
        state: str | None = None,
    ) -> None:
        """`state`: the agent's state before its first cycle (a change from it is an event)."""
        self.host_id = host_id
        self.hostname = hostname
        self.load = load
        self.password_file = password_file
        self.ca_file = ca_file
        self.smtp_timeout = smtp_timeout
        self.queue: queue.Queue[Event | None] = queue.Queue(queue_size)
        self.throttle = Throttle(float(DEFAULT_WINDOW))
        self.recent: collections.deque[Event] = collections.deque(maxlen=RECENT)
        self.dropped = 0
        self.sent = 0
        self.failed = 0
        self.on_event: Callable[[Event], None] | None = None  # told of every event (the daemon's event stream)
        self._state = state
        self._numbered = 0
        self._lock = threading.Lock()
        self._problem = ""
        self._thread: threading.Thread | None = None

    # -- producers (any thread; never block) ----------------------------------------------------

    def transition(self, state: str, sentence: str) -> None:
        """The agent's state after a cycle; a change from the last one is an event."""
        previous, self._state = self._state, state
        if previous is not None and previous != state:
            self._put(Event(TRANSITION, f"{previous}-{state}", sentence, time.time()))

    def alert(self, text: str) -> None:
        self._put(Event(ALERT, text, "", time.time()))

    def events(self) -> list[Event]:
        """The last events, oldest first (any thread)."""
        with self._lock:
            return list(self.recent)

    def _put(self, event: Event) -> None:
        with self._lock:
            self._numbered += 1
            event = replace(event, number=self._numbered)
            self.recent.append(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # the stream is for onlookers: its bug must not cost the mail
                logger.exception("bug in the notification event listener")
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self.dropped += 1
                dropped = self.dropped
            if dropped == 1 or dropped % 100 == 0:
                logger.warning("notification queue full (the mail server is slow or hangs): %d dropped", dropped)

    # -- the worker -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the worker to end after the events queued before; waits up to `timeout`."""
        if self._thread is None:
            return
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            return  # the worker hangs on a server: it is a daemon thread, let it be
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            due = self.throttle.next_due()
            try:
                event = self.queue.get(timeout=None if due is None else max(0.0, due - time.monotonic()))
            except queue.Empty:
                event = None  # a window ended: only its summary to send
            else:
                if event is None:
                    return  # stop()
            try:
                for summary in self.throttle.due(time.monotonic()):
                    self._send(summary.last, summary)
                if event is not None:
                    self._handle(event)
            except Exception:  # a bug here must not end notifications for good
                logger.exception("bug in the notification worker")

    def _handle(self, event: Event) -> None:
        try:
            values = self.load()
            pattern = checked(values, "he.notifyPattern", DEFAULT_NOTIFY_PATTERN)
            self.throttle.window = checked(values, "he.notifyWindow", DEFAULT_WINDOW)
        except HostedEngineError as e:
            self._report(f"notification settings unusable: {e}")
            return
        if event.kind == TRANSITION and not re.search(pattern, event.detail):
            logger.debug("transition %s does not match the notification pattern", event.detail)
            return
        if self.throttle.offer(event, time.monotonic()):
            self._send(event)

    def _send(self, event: Event, summary: Summary | None = None) -> None:
        try:
            settings = mail.MailSettings.from_shared(self.load(), self.password_file, self.ca_file)
        except HostedEngineError as e:
            self._report(f"no e-mail sent: {e}")
            return
        if settings is None:
            return
        self._problem = ""
        text = body(event, self.hostname, self.host_id, summary)
        if mail.send(
            settings, mail.message(settings, subject(event, self.hostname, self.host_id), text), self.smtp_timeout
        ):
            self.sent += 1
        else:
            self.failed += 1

    def _report(self, problem: str) -> None:
        """A settings problem is logged once, not for every event."""
        if problem != self._problem:
            logger.warning("%s", problem)
            self._problem = problem
