"""`engine-health`: is the Engine VM up here, and does its health page say "DB Up"?"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

from vdsm_hosted_engine.broker.base import Monitor
from vdsm_hosted_engine.observations import VmStatus

HEALTHY_MARKER = "DB Up"


def health_url(fqdn: str) -> str:
    return f"http://{fqdn}/ovirt-engine/services/health"


class EngineHealthMonitor(Monitor):
    name = "engine-health"

    def __init__(self, vm_status: Callable[[], tuple[VmStatus, str]], url: str | None, **kw) -> None:
        kw.setdefault("timeout", 20.0)
        super().__init__(**kw)
        self.vm_status = vm_status
        self.url = url

    def probe(self) -> dict[str, str]:
        status, reason = self.vm_status()
        if not status.running:
            return {"vm": status.value, "health": "unknown", "detail": reason or "vm not running on this host"}
        if status is not VmStatus.UP:
            return {"vm": status.value, "health": "bad", "detail": status.value}
        if not self.url:
            return {"vm": "up", "health": "bad", "detail": "no health URL configured"}
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                body = response.read(65536).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError, ValueError) as e:
            return {"vm": "up", "health": "bad", "detail": f"health page unreachable: {e}"}
        if HEALTHY_MARKER in body:
            return {"vm": "up", "health": "good", "detail": ""}
        return {"vm": "up", "health": "bad", "detail": f"health page does not say {HEALTHY_MARKER!r}"}
