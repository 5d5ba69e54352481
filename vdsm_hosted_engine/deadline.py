"""Blocking calls with a deadline, so a hung storage or libvirt call cannot hang the agent loop.

An NFS hard mount or a wedged libvirtd blocks a read forever; Python cannot interrupt it. So each
kind of call runs in a thread of its own and the caller waits at most `timeout`: a call still
running then raises `CallHung` (a StorageError: the caller treats it as a failed read). While that
call stays stuck, the next ones of the same kind fail at once instead of piling up threads; the
first one that finds the kind free again runs normally.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from vdsm_hosted_engine.errors import StorageUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")


class CallHung(StorageUnavailable):
    """A call did not return within its deadline (it may still be running)."""

    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds
        super().__init__(f"{name} has not returned for {seconds:.0f} s")


class Deadlines:
    """Runs calls by kind (`name`), each with a deadline; a kind with a call past its deadline
    fails at once until that very call returns (several threads may share one: each call is its own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._late: dict[str, tuple[object, float]] = {}  # kind -> (its late call, when it began)

    def call(self, name: str, timeout: float, fn: Callable[[], T]) -> T:
        with self._lock:
            late = self._late.get(name)
        if late is not None:
            raise CallHung(name, self._clock() - late[1])
        outcome: dict[str, object] = {}
        done = threading.Event()
        token = object()
        started = self._clock()

        def run() -> None:
            try:
                outcome["value"] = fn()
            except BaseException as e:  # handed to the caller, whatever it is
                outcome["error"] = e
            finally:
                with self._lock:
                    done.set()
                    was_late = self._late.get(name, (None, 0.0))[0] is token
                    if was_late:
                        del self._late[name]
                if was_late:
                    logger.warning("%s returned after %.0f s", name, self._clock() - started)

        threading.Thread(target=run, name=f"call-{name}", daemon=True).start()
        if not done.wait(timeout):
            with self._lock:
                hung = not done.is_set()
                if hung:
                    self._late[name] = (token, started)
            if hung:
                logger.warning("%s has not returned within %.0f s; treating it as failed", name, timeout)
                raise CallHung(name, self._clock() - started)
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome["value"]  # type: ignore[return-value]
