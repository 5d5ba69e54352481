"""What the state machine sees in one tick, and what it asks for (plain values, no I/O).

`identity` is "<sdUUID>:<lease version>", each host's own reading of the storage domain and of the
Engine VM lease: a host that reads something else (another domain, a different lease file at the
same path) must never receive the Engine VM, by migration or by a restart (ENVIRONMENT.md).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from vdsm_hosted_engine.observations import Health, VmStatus
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness


class ActionKind(enum.Enum):
    START_VM = "start"
    SHUTDOWN_VM = "shutdown"
    DESTROY_VM = "destroy"
    MIGRATE_VM = "migrate"  # live migration to `Action.target`
    ABORT_MIGRATION = "abort-migration"
    ALERT = "alert"


def goes_ahead(kind: ActionKind, running: ActionKind) -> bool:
    """Slow actions run one at a time, but an action that does not end (a migration even its abort
    did not end, a hung start) must not leave the VM unmanaged: a power-off goes ahead of anything,
    a shutdown ahead of a migration. The env's contract (ha/env.py `begin`), real and simulated."""
    return kind is ActionKind.DESTROY_VM or (kind is ActionKind.SHUTDOWN_VM and running is ActionKind.MIGRATE_VM)


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    detail: str = ""
    target: int | None = None  # MIGRATE_VM: the destination's host id
    address: str = ""  # MIGRATE_VM: the destination's hostname, as it publishes it


@dataclass(frozen=True)
class ActionResult:
    """How a slow action ended; reported once, in the next snapshot after it finished."""

    kind: ActionKind
    ok: bool
    lease_held_elsewhere: bool = False  # start refused by sanlock (-243): a lost race, not a failure
    error: str = ""


@dataclass(frozen=True)
class Peer:
    """Another host, from its whiteboard slot and sanlock's liveness of its host id."""

    host_id: int
    score: int
    liveness: Liveness
    priority: int = 0
    engine_vm: str = "unknown"  # its engine-status "vm": up / down / down_unexpected / unknown
    engine_health: str = "bad"
    state: str = ""
    maintenance: bool = False
    stopped: bool = False
    fresh: bool = True  # its slot's timestamp changed recently (a live host id with a stale slot is not trusted)
    age: float = 0.0  # seconds since its slot's timestamp last changed, on this host's clock
    identity: str = ""  # the storage domain and Engine VM lease as that host reads them ("" = not published)
    migrating_to: int | None = None  # the host it announces it is live-migrating the Engine VM to

    @property
    def live(self) -> bool:
        return self.liveness is Liveness.LIVE and not self.stopped and self.fresh

    @property
    def eligible(self) -> bool:
        return self.live and not self.maintenance and self.score > 0

    @property
    def reports_engine_up(self) -> bool:
        return self.live and self.engine_vm == "up"


@dataclass(frozen=True)
class Snapshot:
    """Everything one decision needs. `peers` is None while sanlock cannot yet tell who is alive;
    `lease_owner` is the host id the engine-vm lease names (None: free), `lease_known` False when it
    could not be read."""

    now: float
    host_id: int
    score: int
    vm: VmStatus
    health: Health = Health.UNKNOWN
    priority: int = 0
    score_detail: str = ""
    vm_down_reason: str = ""
    global_maintenance: bool = False
    local_maintenance: bool = False
    peers: Mapping[int, Peer] | None = field(default_factory=dict)
    lease_owner: int | None = None
    lease_known: bool = True
    action_running: ActionKind | None = None
    action_result: ActionResult | None = None
    identity: str = ""  # this host's reading of the domain and lease (peers must read the same to receive the VM)
    network: float | None = None  # this host's network monitor: 0 = cut off (no live migration possible)
    migrate_request: int | None = None  # admin asked to live-migrate the Engine VM: 0 = best host, N = host N
    storage_error: str = ""  # why the whiteboard could not be read this tick ("" = it could)
    monitors_ready: bool = True  # every monitor has reported since the agent started (or it waited long enough)
    lockspace_held: bool | None = True  # this host's sanlock holds its host id (None: cannot tell now)
