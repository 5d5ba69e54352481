"""`Env` of one simulated host: the agent's window on the World (see ha/env.py for the contract).

The World creates one per agent it starts; this module needs the World only as a type (no import at
run time, so sim/world.py -> sim/env.py is the one direction). Lockspace and lease calls go to the
World's `SimSanlock` (sim/sanlock.py) as the real env's go to the host's sanlock daemon.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.deadline import CallHung
from vdsm_hosted_engine.errors import HostedEngineError, HostIdNotHeld, StorageUnavailable
from vdsm_hosted_engine.ha.snapshot import Action, ActionKind, ActionResult, goes_ahead
from vdsm_hosted_engine.observations import MonitorValues, VmStatus
from vdsm_hosted_engine.storage import whiteboard
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.whiteboard import HostSlot, Whiteboard

if TYPE_CHECKING:
    from vdsm_hosted_engine.sim.world import SimHost, World

logger = logging.getLogger(__name__)


class SimEnv:
    """The `Env` of one simulated host (ha/env.py states who calls what); every call runs on the
    World's single thread."""

    def __init__(self, world: World, host: SimHost) -> None:
        self.world = world
        self.host = host
        self.joining = False

    def now(self) -> float:
        return self.world.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.world.now

    def wait(self, timeout: float) -> None:  # the world schedules ticks; the agent never blocks here
        raise NotImplementedError("the simulator drives Agent.tick() itself")

    def wake(self) -> None:
        self.world.wake(self.host)

    def ensure_lockspace(self) -> bool | None:
        host, world = self.host, self.world
        held = world.sanlock.inq_lockspace(host.host_id)
        if held is not False:
            return held
        if host.powered and host.storage_ok and not self.joining:
            self.joining = True
            world.at(world.sanlock.add_lockspace(host.host_id), self._joined)
        return False

    def _joined(self) -> None:
        """add_lockspace completes, unless this agent was replaced meanwhile (its successor joins)."""
        self.joining = False
        host, sanlock = self.host, self.world.sanlock
        if host.agent is None or host.agent.env is not self:
            return
        if not sanlock.add_lockspace_done(host.host_id):
            return
        self.world.log(host, "sanlock", f"joined the lockspace (generation {sanlock.ids[host.host_id].generation})")
        self.world.wake(host)

    def leave_lockspace(self) -> None:
        """rem_lockspace(unused): sanlock keeps the host id while the Engine VM holds its lease here
        (leaving would kill it)."""
        if not self.world.sanlock.rem_lockspace(self.host.host_id, unused=True):
            logger.debug("keeping host id %d: the Engine VM holds its lease on this host", self.host.host_id)

    def liveness(self) -> dict[int, Liveness] | None:
        hosts = self.world.sanlock.get_hosts(self.host.host_id)
        return None if hosts is None else {h: lease.liveness for h, lease in hosts.items()}

    def _storage(self, what: str) -> None:
        """Raise as the real env does when the storage is gone: a failed call, or (hung storage) a
        call whose deadline expired (ha/real_env.py runs them through deadline.Deadlines)."""
        if self.host.storage_ok:
            return
        if self.host.storage_hangs:
            raise CallHung(what, 10.0)
        raise StorageUnavailable("the storage domain is unreachable")

    def lease_owner(self) -> int | None:
        self._storage("reading the Engine VM lease")
        return self.world.sanlock.live_owner(self.host.host_id)

    def read_whiteboard(self) -> Whiteboard:
        self._storage("reading the whiteboard")
        if self.host.read_fails:
            raise StorageUnavailable("reading the whiteboard failed: Input/output error")
        return whiteboard.decode_whiteboard(bytes(self.world.slots), self.world.slot_cache)

    def write_slot(self, slot: HostSlot) -> None:
        self._storage("writing this host's slot")
        if not self.world.renewing(self.host):
            raise HostIdNotHeld(self.host.host_id)
        block = whiteboard.encode_host_slot(slot, self.wall())
        offset = slot.host_id * constants.SLOT_SIZE
        self.world.slots[offset : offset + constants.SLOT_SIZE] = block

    def vm_status(self) -> tuple[VmStatus, str]:
        if not self.host.libvirt_up:
            return VmStatus.UNKNOWN, ""
        vm = self.host.vm
        if vm is None:
            return VmStatus.DOWN, self.host.down_reason
        return vm.status, ""

    def begin(self, action: Action) -> None:
        """As the real env: one slow action at a time (`goes_ahead` names the exceptions), refused
        with an error otherwise."""
        world, host = self.world, self.host
        slow = action.kind not in (ActionKind.ALERT, ActionKind.ABORT_MIGRATION)
        if slow and host.action is not None and not goes_ahead(action.kind, host.action):
            raise HostedEngineError(f"{host.action.value} still running; not starting {action.kind.value}")
        if action.kind is ActionKind.START_VM:
            world.start_vm(host)
        elif action.kind is ActionKind.SHUTDOWN_VM:
            world.shutdown_vm(host, destroy=False)
        elif action.kind is ActionKind.DESTROY_VM:
            world.shutdown_vm(host, destroy=True)
        elif action.kind is ActionKind.MIGRATE_VM and action.target is not None:
            world.migrate_vm(host, action.target)
        elif action.kind is ActionKind.ABORT_MIGRATION:
            world.abort_migration(host)
        elif action.kind is ActionKind.ALERT:
            world.alerts.append(f"{host.name}: {action.detail}")
            world.log(host, "notify", f"ALERT: {action.detail}")

    def action_status(self) -> tuple[ActionKind | None, ActionResult | None]:
        result, self.host.result = self.host.result, None
        return self.host.action, result

    def monitors(self) -> MonitorValues:
        host = self.host
        health, detail = self.world.engine_health(host)
        network = 1.0 if host.net_up else 0.0
        return MonitorValues(
            network=network,
            bridge_up=host.bridge_up,
            mem_free_mib=host.mem_free_mib,
            cpu_load=host.cpu_load,
            engine_health=health,
            engine_detail=detail,
            storage_ok=host.storage_ok,
        )

    def local_maintenance(self) -> bool:
        return self.host.local_maintenance

    def identity(self) -> str:
        self._storage("reading the domain's identity")
        return self.world.identity(self.host)

    def request_migration(self, target: int) -> None:
        self.host.migrate_request = target
        self.wake()

    def take_migrate_request(self) -> int | None:
        request, self.host.migrate_request = self.host.migrate_request, None
        return request
