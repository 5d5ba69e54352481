"""The simulated world: N hosts, one shared storage, sanlock, the Engine VM, one clock.

Deterministic: no threads, no wall clock; events at equal times run in insertion order. The agents
are the real `ha.agent.Agent`, each talking to its host through a `SimEnv` (sim/env.py); the
whiteboard is the real codec over a byte array.

sanlock is `sim/sanlock.py` (`SimSanlock` on the World's clock), whose semantics are held to the real
daemon by tests/integration/test_sanlock_conformance.py: the World powers its daemons on and off,
cuts their storage, starts the Engine VM through its `acquire` (qemu is the lease holder) and tells it
when the VM exits; sanlock tells the World when it kills the VM (lockspace lost).
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import BugError
from vdsm_hosted_engine.ha.agent import Agent, AgentConfig
from vdsm_hosted_engine.ha.fsm import Timeouts
from vdsm_hosted_engine.ha.snapshot import ActionKind, ActionResult
from vdsm_hosted_engine.observations import INCOMING_FAILED, Health, VmStatus
from vdsm_hosted_engine.sim.env import SimEnv
from vdsm_hosted_engine.sim.sanlock import AcquireResult, SimSanlock
from vdsm_hosted_engine.storage.whiteboard import SlotCache

logger = logging.getLogger(__name__)

ACQUIRE_SECONDS = 0.3  # hooks, domain definition and qemu start before libvirt acquires the lease
START_SECONDS = 2.0
BOOT_SECONDS = 20.0
SHUTDOWN_SECONDS = 5.0
DESTROY_SECONDS = 0.5
REFUSE_SECONDS = 0.5
MIGRATE_SECONDS = 1.0  # a live migration of the lab's guest takes ~0.9 s (ENVIRONMENT.md)


@dataclass
class SimVm:
    status: VmStatus
    started_at: float
    generation: int
    incoming: bool = False  # the destination's domain of a live migration under way (not running yet)


@dataclass
class SimHost:
    host_id: int
    priority: int = 0
    powered: bool = False
    net_up: bool = True
    bridge_up: bool = True
    storage_ok: bool = True
    cpu_load: float = 0.05
    mem_free_mib: int = 16384
    local_maintenance: bool = False
    generation: int = 0  # boot count: voids events scheduled before a crash
    vm: SimVm | None = None
    down_reason: str = ""
    agent: Agent | None = None
    next_tick: float = float("inf")
    action: ActionKind | None = None
    result: ActionResult | None = None
    migrate_request: int | None = None
    libvirt_up: bool = True  # fault: libvirtd stopped (the VM's qemu runs on; nothing can be asked)
    destroy_fails: bool = False  # fault: libvirt's destroy fails (qemu stuck in D state)
    read_fails: bool = False  # fault: whiteboard reads fail while writes succeed
    storage_hangs: bool = False  # the storage outage hangs I/O (deadlines expire) instead of failing it
    hung_since: float | None = None  # fault: the agent process is stopped (SIGSTOP); sanlock renews on
    drop_incoming: Callable[[], None] | None = None  # ends the destination's domain of this host's migration

    @property
    def name(self) -> str:
        return f"host{self.host_id}"


@dataclass
class World:
    host_count: int
    io_timeout: int = 1
    tick: float = 5.0
    timeouts: Timeouts = field(default_factory=Timeouts)
    now: float = 0.0
    engine_healthy: bool = True
    global_maintenance: bool = False
    vm_mem_mib: int = 4096
    migration: str = (
        "ok"  # how the next live migrations end: ok | fail | hang (until aborted) | stuck (abort does nothing)
    )
    watchdog: float = 60.0  # systemd's WatchdogSec: a hung agent is killed and restarted after this

    def __post_init__(self) -> None:
        self.hosts = {h: SimHost(h) for h in range(1, self.host_count + 1)}
        self.slots = bytearray((self.host_count + 1) * constants.SLOT_SIZE)
        self.sanlock = SimSanlock(
            self.hosts, self.io_timeout, lambda: self.now, self._sanlock_killed, self._lockspace_lost, self._reset
        )
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.alerts: list[str] = []
        self.violations: list[str] = []
        self.current: SimHost | None = None  # whose agent is ticking (for the log)
        self.slot_cache: SlotCache = {}  # decoded slots by bytes, shared by every host (readings are pure)
        self.identities: dict[int, str] = {}  # host id -> the domain/lease it reads (default: the real one)

    # -- time ---------------------------------------------------------------------------------

    def at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when, next(self._seq), fn))

    def wake(self, host: SimHost) -> None:
        if host.agent is not None and host.hung_since is None:
            host.next_tick = min(host.next_tick, self.now)

    def run_until(self, end: float, check: Callable[[World], None] | None = None) -> None:
        same_instant = 0
        while True:
            ticking = min(self.hosts.values(), key=lambda h: (h.next_tick, h.host_id))
            event_time = self._events[0][0] if self._events else float("inf")
            when = min(ticking.next_tick, event_time)
            if when > end:
                self.now = end
                return
            same_instant = same_instant + 1 if when <= self.now else 0
            if same_instant > 10_000:
                raise BugError(
                    f"simulation stuck at {self.now:.3f} s (host{ticking.host_id} ticks without time passing)"
                )
            self.now = max(self.now, when)
            if event_time <= ticking.next_tick:
                _, _, fn = heapq.heappop(self._events)
                fn()
            else:
                self._tick(ticking)
            self._sanlock_kills()
            if check is not None:
                check(self)

    def _tick(self, host: SimHost) -> None:
        assert host.agent is not None
        self.current = host
        try:
            decision = host.agent.tick()
        finally:
            self.current = None
        wait = self.tick
        if decision is not None and decision.wake_after is not None:
            wait = min(wait, decision.wake_after)
        host.next_tick = self.now + wait

    # -- sanlock --------------------------------------------------------------------------------

    @property
    def lease(self) -> tuple[int, int] | None:
        """The engine-vm owner record on disk: (host id, its generation when it acquired)."""
        record = self.sanlock.record
        return None if record is None else (record.host_id, record.generation)

    def renewing(self, host: SimHost) -> bool:
        """The host's sanlock daemon renews its host id (powered, joined, storage reachable)."""
        return self.sanlock.renewing(host.host_id)

    def stop_renewing(self, host: SimHost) -> None:
        """The host's storage is cut: sanlock's renewals stop."""
        self.sanlock.storage_lost(host.host_id)

    def resume_renewing(self, host: SimHost) -> None:
        """Storage is back before sanlock gave the lockspace up: renewals simply continue."""
        self.sanlock.storage_back(host.host_id)

    def _sanlock_killed(self, host_id: int, reason: str) -> None:
        """sanlock killed the lease holder on `host_id`: the Engine VM's qemu."""
        self.vm_gone(self.hosts[host_id], reason)

    def _reset(self, host_id: int, when: float) -> None:
        """The watchdog resets the host at `when` (its lease holder could not be killed), unless the
        holder is gone by then."""
        host = self.hosts[host_id]
        generation = host.generation

        def fire() -> None:
            # Disarmed once the holder is gone (e.g. the agent's own fence powered the VM off).
            if host.generation == generation and host.powered and host.vm is not None:
                self.log(host, "watchdog", "the lease holder could not be killed: host reset")
                self.crash(host)

        self.at(when, fire)

    def _lockspace_lost(self, host_id: int) -> None:
        """sanlock dropped the host's lockspace (renewals failed for 8 x io, its VM killed first);
        the agent must join again once storage is back."""
        self.log(self.hosts[host_id], "sanlock", "lost the lockspace (renewals failed)")

    def _sanlock_kills(self) -> None:
        """Let sanlock act on renewals that failed for 8 x io (see `SimSanlock.check_renewals`)."""
        self.sanlock.check_renewals()

    # -- the VM ---------------------------------------------------------------------------------

    def running_vms(self) -> list[int]:
        """Hosts whose Engine VM runs. A paused VM does not: libvirt released its lease and resuming
        it needs the lease again."""
        return [
            h.host_id
            for h in self.hosts.values()
            if h.powered and h.vm is not None and h.vm.status is not VmStatus.PAUSED and not h.vm.incoming
        ]

    def existing_vms(self) -> list[int]:
        """Hosts with an Engine VM process, paused or not."""
        return [h.host_id for h in self.hosts.values() if h.powered and h.vm is not None]

    def vm_gone(self, host: SimHost, reason: str) -> None:
        if host.vm is None:
            return
        if host.drop_incoming is not None:  # the source of a migration died: its destination's domain goes
            host.drop_incoming()
            host.drop_incoming = None
        host.vm = None
        host.down_reason = reason
        self.sanlock.release(host.host_id)  # qemu exited: its lease is released if the host can write
        self.log(host, "vm", f"Engine VM down ({reason})")
        self.wake(host)

    def engine_health(self, host: SimHost) -> tuple[Health, str]:
        """What the Engine's health page on `host`'s VM says: unknown without a VM, bad while it boots
        (BOOT_SECONDS), then as the scenario set it."""
        vm = host.vm
        if vm is None:
            return Health.UNKNOWN, ""
        if vm.status is VmStatus.UP and self.now - vm.started_at >= BOOT_SECONDS:
            if self.engine_healthy:
                return Health.GOOD, ""
            return Health.BAD, "health page does not say DB Up"
        return Health.BAD, "booting"

    def finish(self, host: SimHost, result: ActionResult, generation: int) -> None:
        if host.generation != generation or not host.powered:
            return
        host.action = None
        host.result = result
        self.wake(host)

    def _refuse(self, host: SimHost, kind: ActionKind, error: str) -> None:
        """The action fails after REFUSE_SECONDS with `error` (as libvirt answers)."""
        generation = host.generation
        self.at(
            self.now + REFUSE_SECONDS, lambda: self.finish(host, ActionResult(kind, False, error=error), generation)
        )

    def start_vm(self, host: SimHost) -> None:
        generation = host.generation
        host.action = ActionKind.START_VM
        if not host.libvirt_up:
            self._refuse(host, ActionKind.START_VM, "cannot start the Engine VM: libvirt does not answer")
            return
        self.at(self.now + ACQUIRE_SECONDS, lambda: self._retry_start(host, generation))

    def _acquire_and_start(self, host: SimHost) -> None:
        generation = host.generation
        if host.vm is not None:
            self.at(self.now, lambda: self.finish(host, ActionResult(ActionKind.START_VM, True), generation))
            return
        if not host.storage_ok:
            self.at(
                self.now + REFUSE_SECONDS,
                lambda: self.finish(
                    host, ActionResult(ActionKind.START_VM, False, error="storage unavailable"), generation
                ),
            )
            return
        acquired = self.sanlock.acquire(host.host_id)
        if acquired.outcome is AcquireResult.HELD:
            self.at(
                self.now + REFUSE_SECONDS,
                lambda: self.finish(
                    host,
                    ActionResult(ActionKind.START_VM, False, lease_held_elsewhere=True, error=acquired.error),
                    generation,
                ),
            )
            return
        if acquired.outcome is AcquireResult.WAIT:
            # The holder is failing: sanlock blocks the acquire until it is dead.
            self.at(acquired.until, lambda: self._retry_start(host, generation))
            return
        if acquired.outcome is AcquireResult.ERROR:
            self.at(
                self.now + REFUSE_SECONDS,
                lambda: self.finish(host, ActionResult(ActionKind.START_VM, False, error=acquired.error), generation),
            )
            return
        host.vm = SimVm(VmStatus.POWERING_UP, self.now, generation)
        host.down_reason = ""
        self.log(host, "vm", "Engine VM starting (lease acquired)")

        vm = host.vm

        def booted() -> None:
            if host.vm is vm and vm.status is VmStatus.POWERING_UP:
                vm.status = VmStatus.UP
                self.finish(host, ActionResult(ActionKind.START_VM, True), generation)
            elif host.action is ActionKind.START_VM:
                # qemu died while starting: libvirt's start still returns (the VM is just gone).
                self.finish(host, ActionResult(ActionKind.START_VM, True), generation)

        self.at(self.now + START_SECONDS, booted)

    def _retry_start(self, host: SimHost, generation: int) -> None:
        if host.generation == generation and host.powered and host.action is ActionKind.START_VM:
            self._acquire_and_start(host)

    def shutdown_vm(self, host: SimHost, destroy: bool) -> None:
        kind = ActionKind.DESTROY_VM if destroy else ActionKind.SHUTDOWN_VM
        generation = host.generation
        host.action = kind
        if host.vm is None:
            self.at(self.now, lambda: self.finish(host, ActionResult(kind, True), generation))
            return
        if not host.libvirt_up:
            self._refuse(host, kind, "libvirt does not answer")
            return
        if host.destroy_fails:  # qemu stuck: a shutdown request is taken and ignored, destroy fails
            if destroy:
                self._refuse(host, kind, "cannot destroy the Engine VM: operation timed out (qemu does not exit)")
            else:
                self.at(self.now, lambda: self.finish(host, ActionResult(kind, True), generation))
            return
        if not destroy and host.vm.status is VmStatus.PAUSED:
            self._refuse(host, kind, "a paused guest does not answer the shutdown request")
            return
        if host.vm.status is not VmStatus.PAUSED:
            host.vm.status = VmStatus.POWERING_DOWN
        vm = host.vm

        def done() -> None:
            if host.vm is vm:
                self.vm_gone(host, "destroyed" if destroy else "shutdown")
            self.finish(host, ActionResult(kind, True), generation)

        self.at(self.now + (DESTROY_SECONDS if destroy else SHUTDOWN_SECONDS), done)

    def identity(self, host: SimHost) -> str:
        return self.identities.get(host.host_id, f"sim-domain:{self.lease_version}")

    @property
    def lease_version(self) -> int:
        return self.sanlock.lver

    def migrate_vm(self, host: SimHost, target_id: int) -> None:
        """Live migration: after MIGRATE_SECONDS the VM (same boot) runs on the target with the lease,
        if the target is still powered, joined and reading the same lease; otherwise the source keeps
        it. `migration` = fail / hang make it fail at once / never finish (until aborted)."""
        generation = host.generation
        host.action = ActionKind.MIGRATE_VM
        vm = host.vm
        target = self.hosts.get(target_id)
        incoming: SimVm | None = None
        if target is not None and target.powered and target.vm is None and self.sanlock.inq_lockspace(target_id):
            # libvirt defines the incoming domain on the destination at once, paused for the
            # migration (the runtime reports it powering up); it runs only when the migration ends.
            incoming = target.vm = SimVm(VmStatus.POWERING_UP, self.now, target.generation, incoming=True)
            target.down_reason = ""
            self.wake(target)

        def drop_incoming() -> None:
            if target is not None and incoming is not None and target.vm is incoming:
                target.vm, target.down_reason = None, INCOMING_FAILED
                self.wake(target)

        def fail(error: str) -> None:
            self.log(host, "vm", f"live migration to host {target_id} failed: {error}")
            drop_incoming()
            self.finish(host, ActionResult(ActionKind.MIGRATE_VM, False, error=error), generation)

        host.drop_incoming = drop_incoming

        def done() -> None:
            if host.action is not ActionKind.MIGRATE_VM or host.vm is not vm or vm is None:
                drop_incoming()
                return  # aborted, or the VM died meanwhile
            if self.migration in ("hang", "stuck"):
                return
            if (
                self.migration == "fail"
                or target is None
                or not target.powered
                or not self.sanlock.inq_lockspace(target.host_id)
            ):
                fail("the destination did not take the VM")
                return
            if self.identity(target) != self.identity(host):
                fail("the destination cannot acquire the Engine VM lease")
                return
            host.vm, host.down_reason = None, "migrated"
            host.drop_incoming = None
            target.vm = SimVm(vm.status, vm.started_at, target.generation)
            target.down_reason = ""
            self.sanlock.hand_over(host.host_id, target.host_id)
            self.log(host, "vm", f"Engine VM live-migrated to host {target_id} (lease handed over)")
            self.finish(host, ActionResult(ActionKind.MIGRATE_VM, True), generation)
            self.wake(target)

        self.at(self.now + MIGRATE_SECONDS, done)

    def abort_migration(self, host: SimHost) -> None:
        if host.action is ActionKind.MIGRATE_VM and self.migration == "stuck":
            self.log(host, "vm", "live migration abort requested; the migration goes on regardless")
            return
        if host.action is ActionKind.MIGRATE_VM:
            if host.drop_incoming is not None:
                host.drop_incoming()
            self.log(host, "vm", "live migration aborted")
            self.finish(host, ActionResult(ActionKind.MIGRATE_VM, False, error="aborted"), host.generation)

    # -- hosts ----------------------------------------------------------------------------------

    def power_on(self, host: SimHost) -> None:
        if host.powered:
            return
        host.powered = True
        self.sanlock.daemon_start(host.host_id)
        host.generation += 1
        host.vm, host.action, host.result, host.down_reason = None, None, None, ""
        self.log(host, "world", "powered on")
        self.start_agent(host, SimEnv(self, host))

    def start_agent(self, host: SimHost, env: SimEnv) -> None:
        config = AgentConfig(
            host_id=host.host_id,
            hostname=host.name,
            vm_mem_mib=self.vm_mem_mib,
            priority=host.priority,
            tick=self.tick,
            timeouts=self.timeouts,
        )
        host.agent = Agent(env, config)
        host.next_tick, host.hung_since = self.now, None

    def crash(self, host: SimHost) -> None:
        """Power cut: everything on the host dies at once; its leases stay on disk until dead."""
        if not host.powered:
            return
        self.sanlock.daemon_kill(host.host_id)
        host.powered = False
        if host.drop_incoming is not None:
            host.drop_incoming()
            host.drop_incoming = None
        if host.vm is not None:
            host.vm = None
            self.log(host, "vm", "Engine VM gone with its host")
        host.agent, host.next_tick, host.action, host.hung_since = None, float("inf"), None, None
        self.log(host, "world", "crashed")

    def hang_agent(self, host: SimHost) -> None:
        """The agent process stops (SIGSTOP, a deadlock): no ticks; sanlock renews on. systemd's
        watchdog kills and restarts it after `watchdog` seconds without a keep-alive."""
        if host.agent is None or host.hung_since is not None:
            return
        host.hung_since, host.next_tick = self.now, float("inf")
        agent, generation = host.agent, host.generation

        def watchdog() -> None:
            if host.agent is agent and host.generation == generation and host.hung_since is not None:
                self.log(host, "systemd", f"watchdog: no keep-alive for {self.watchdog:.0f} s; restarting the agent")
                host.hung_since = None
                host.agent = None  # killed: no clean shutdown
                self.start_agent(host, SimEnv(self, host))

        self.at(self.now + self.watchdog, watchdog)

    def resume_agent(self, host: SimHost) -> None:
        if host.hung_since is not None and host.agent is not None:
            host.hung_since = None
            host.next_tick = self.now

    def pause_vm(self, host: SimHost) -> None:
        """The guest pauses (I/O error, admin): libvirt's sanlock plugin releases its lease."""
        if host.vm is None or host.vm.status is VmStatus.PAUSED:
            return
        host.vm.status = VmStatus.PAUSED
        self.sanlock.release(host.host_id)
        self.log(host, "vm", "Engine VM paused (lease released)")
        self.wake(host)

    def resume_vm(self, host: SimHost) -> None:
        """Resuming reacquires the lease; refused (the VM stays paused) when another host holds it."""
        if host.vm is None or host.vm.status is not VmStatus.PAUSED:
            return
        if self.sanlock.acquire(host.host_id).outcome is not AcquireResult.OK:
            self.log(host, "vm", "Engine VM resume refused: its lease is held elsewhere")
            return
        host.vm.status = VmStatus.UP
        self.log(host, "vm", "Engine VM resumed (lease acquired)")
        self.wake(host)

    def stop_agent(self, host: SimHost) -> None:
        if host.agent is None:
            return
        self.current = host
        try:
            host.agent._shutdown()
        finally:
            self.current = None
        host.agent, host.next_tick = None, float("inf")

    # -- log ------------------------------------------------------------------------------------

    def log(self, host: SimHost | None, component: str, message: str) -> None:
        where = f"{host.name}/{component}" if host else component
        logger.info("%s: %s", where, message, extra={"sim_direct": True})
