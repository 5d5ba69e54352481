"""`Env` of one simulated host: the agent's window on the World (see ha/env.py for the contract)."""

from __future__ import annotations

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import HostIdNotHeld, StorageUnavailable
from vdsm_hosted_engine.ha.env import MonitorValues
from vdsm_hosted_engine.ha.snapshot import Action, ActionKind, ActionResult, Health, VmStatus
from vdsm_hosted_engine.sim.world import BOOT_SECONDS, SimHost, World
from vdsm_hosted_engine.storage import whiteboard
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.sanlock_resource import live_owner
from vdsm_hosted_engine.storage.whiteboard import HostSlot, Whiteboard


class SimEnv:
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

    def ensure_lockspace(self) -> bool:
        host, world = self.host, self.world
        if host.in_lockspace:
            return True
        if host.powered and host.storage_ok and not self.joining:
            self.joining = True
            world.at(world.now + 3 * world.io_timeout, self._joined)
        return False

    def _joined(self) -> None:
        self.joining = False
        host = self.host
        if host.agent is None or host.agent.env is not self or not host.powered or not host.storage_ok:
            return
        host.in_lockspace = True
        host.joined = True
        host.joined_at = self.world.now
        host.lease_generation += 1
        host.renew_stopped_at = None
        self.world.log(host, "sanlock", f"joined the lockspace (generation {host.lease_generation})")
        self.world.wake(host)

    def leave_lockspace(self) -> None:
        """Keeps the host id while the Engine VM holds its lease here (leaving would kill it)."""
        host = self.host
        if host.vm is not None:
            return
        host.in_lockspace = False
        host.joined = False
        host.renew_stopped_at = None

    def liveness(self) -> dict[int, Liveness] | None:
        hosts = self.world.hosts_view(self.host)
        return None if hosts is None else {h: lease.liveness for h, lease in hosts.items()}

    def lease_owner(self) -> int | None:
        if not self.host.storage_ok:
            raise StorageUnavailable("the lease file is unreachable")
        owner = live_owner(self.world.owners(), self.world.hosts_view(self.host))
        return owner.host_id if owner else None

    def read_whiteboard(self) -> Whiteboard:
        if not self.host.storage_ok:
            raise StorageUnavailable("the storage domain is unreachable")
        return whiteboard.decode_whiteboard(bytes(self.world.slots))

    def write_slot(self, slot: HostSlot) -> None:
        if not self.host.storage_ok:
            raise StorageUnavailable("the storage domain is unreachable")
        if not self.host.renewing:
            raise HostIdNotHeld(self.host.host_id)
        block = whiteboard.encode_host_slot(slot, self.wall())
        offset = slot.host_id * constants.SLOT_SIZE
        self.world.slots[offset : offset + constants.SLOT_SIZE] = block

    def vm_status(self) -> tuple[VmStatus, str]:
        vm = self.host.vm
        if vm is None:
            return VmStatus.DOWN, self.host.down_reason
        return vm.status, ""

    def begin(self, action: Action) -> None:
        world, host = self.world, self.host
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
        world, host = self.world, self.host
        health, detail = Health.UNKNOWN, ""
        vm = host.vm
        if vm is not None:
            if vm.status is VmStatus.UP and world.now - vm.started_at >= BOOT_SECONDS:
                health = Health.GOOD if world.engine_healthy else Health.BAD
                detail = "" if world.engine_healthy else "health page does not say DB Up"
            else:
                health, detail = Health.BAD, "booting"
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
        if not self.host.storage_ok:
            raise StorageUnavailable("the lease file is unreachable")
        return self.world.identity(self.host)

    def request_migration(self, target: int) -> None:
        self.host.migrate_request = target
        self.wake()

    def take_migrate_request(self) -> int | None:
        request, self.host.migrate_request = self.host.migrate_request, None
        return request
