"""`storage`: the domain answers (latency of one O_DIRECT block read) and sanlock still holds our
host id. The probe reads one 4 KiB block, not the whole whiteboard: the agent reads that each tick."""

from __future__ import annotations

import time
from collections.abc import Callable

from vdsm_hosted_engine.broker.base import Monitor
from vdsm_hosted_engine.errors import HostedEngineError

MAX_READ_DELAY = 10.0


class StorageMonitor(Monitor):
    name = "storage"

    def __init__(self, read: Callable[[], object], holds_host_id: Callable[[], bool | None], **kw) -> None:
        super().__init__(**kw)
        self.read = read
        self.holds_host_id = holds_host_id

    def probe(self) -> dict[str, object]:
        started = time.monotonic()
        try:
            self.read()
        except HostedEngineError as e:
            return {"ok": False, "delay": None, "host_id_held": None, "detail": str(e)}
        delay = time.monotonic() - started
        held = self.holds_host_id()
        ok = delay <= MAX_READ_DELAY and held is not False
        detail = "" if ok else ("read too slow" if delay > MAX_READ_DELAY else "sanlock does not hold our host id")
        return {"ok": ok, "delay": round(delay, 4), "host_id_held": held, "detail": detail}
