"""systemd's notify protocol (sd_notify(3)), for `Type=notify` and the service watchdog.

The daemon says READY=1 once it serves, and WATCHDOG=1 after every agent cycle: with
`WatchdogSec=` in the unit, systemd kills and restarts a daemon whose agent loop stopped cycling
(a deadlock, a process stopped with SIGSTOP), which otherwise would hold the Engine VM's host
unmanaged while sanlock keeps renewing its host id. Without NOTIFY_SOCKET (not under systemd, the
tests, the lab) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace
        self.address = address
        self._warned = False

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, state: str) -> bool:
        """Send `state` (e.g. "READY=1", "WATCHDOG=1"); False when not under systemd or it failed."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(state.encode("ascii"), self.address)
        except OSError as e:
            if not self._warned:
                logger.warning("cannot notify systemd at %s: %s", self.address.lstrip("\0"), e)
                self._warned = True
            return False
        return True
