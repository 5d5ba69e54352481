"""What the monitors and the VM runtime observe, as plain values: the Engine VM's state here, the
Engine's health, and the broker's monitor values.

Both the measuring side (broker/, virt/) and the deciding side (ha/) use them; they live below both,
so monitors never import the decider (STYLE.md section 11).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class VmStatus(enum.Enum):
    """The Engine VM on this host, from the VM runtime (libvirt)."""

    DOWN = "down"  # not running here
    POWERING_UP = "powering_up"
    UP = "up"
    PAUSED = "paused"
    POWERING_DOWN = "powering_down"
    UNKNOWN = "unknown"  # the runtime cannot tell (libvirt unreachable)

    @property
    def running(self) -> bool:
        return self in (VmStatus.POWERING_UP, VmStatus.UP, VmStatus.PAUSED, VmStatus.POWERING_DOWN)


# Why the Engine VM went down here when it was the destination's domain of a live migration that
# did not complete: it never ran here, so it is no crash (the VM stays on its source).
INCOMING_FAILED = "incoming migration failed"


class Health(enum.Enum):
    """The Engine's health endpoint, as the engine-health monitor last saw it."""

    GOOD = "good"
    BAD = "bad"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class MonitorValues:
    """The broker's latest values; None where a monitor has no fresh value (older than its TTL)."""

    network: float | None = None
    bridge_up: bool | None = None
    mem_free_mib: int | None = None
    cpu_load: float | None = None
    engine_health: Health = Health.UNKNOWN
    engine_detail: str = ""
    storage_ok: bool | None = None
    ready: bool = True  # every monitor has reported at least once (a value or an error)
