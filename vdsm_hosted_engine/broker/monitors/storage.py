"""`storage`: the domain answers (latency of one O_DIRECT block read), sanlock still holds our host
id, and what is mounted at the connection's mount point is what hosted-engine.conf says. The probe
reads one 4 KiB block, not the whole whiteboard: the agent reads that each tick."""

from __future__ import annotations

import time
from collections.abc import Callable

from vdsm_hosted_engine.broker.base import Monitor
from vdsm_hosted_engine.errors import HostedEngineError

MAX_READ_DELAY = 10.0


class StorageMonitor(Monitor):
    """`mount_problem` returns None when the mount is as configured (or nothing is mounted: dir),
    else one sentence; the result says `mount_ok`."""

    name = "storage"

    def __init__(
        self,
        read: Callable[[], object],
        holds_host_id: Callable[[], bool | None],
        mount_problem: Callable[[], str | None] = lambda: None,
        **kw,
    ) -> None:
        super().__init__(**kw)
        self.read = read
        self.holds_host_id = holds_host_id
        self.mount_problem = mount_problem

    def probe(self) -> dict[str, object]:
        try:
            problem = self.mount_problem()
        except HostedEngineError as e:
            problem = str(e)
        if problem is not None:
            return {"ok": False, "delay": None, "host_id_held": None, "mount_ok": False, "detail": problem}
        started = time.monotonic()
        try:
            self.read()
        except HostedEngineError as e:
            return {"ok": False, "delay": None, "host_id_held": None, "mount_ok": True, "detail": str(e)}
        delay = time.monotonic() - started
        held = self.holds_host_id()
        ok = delay <= MAX_READ_DELAY and held is not False
        detail = "" if ok else ("read too slow" if delay > MAX_READ_DELAY else "sanlock does not hold our host id")
        return {"ok": ok, "delay": round(delay, 4), "host_id_held": held, "mount_ok": True, "detail": detail}
