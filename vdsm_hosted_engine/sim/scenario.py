"""Scenarios: timed commands on a simulated cluster, with a golden event log.

A scenario directory holds `README` (purpose, expected outcome), `hosts.yaml`, `commands` and
`expected.log`. `hosts.yaml`::

    hosts: 3              # host ids 1..3, all powered on at t=0 unless `start` says otherwise
    duration: 400         # simulated seconds
    io_timeout: 1         # sanlock's (host_dead = 8 x io + 60)
    tick: 5
    start: [1, 2, 3]      # optional
    priorities: {2: 10}   # optional
    timeouts: {health: 60}  # optional overrides of ha.fsm.Timeouts
    engine_within: 120    # optional liveness bound: the Engine is up and healthy within this many
                          # seconds of the last command, and still at the end (else a violation)

`commands`: one per line, `<seconds> <command> [args]`, `#` comments. HOST is a host id or `engine`
(the host running the Engine VM at that moment):

    power-on HOST | crash-host HOST | restart-agent HOST
    cut-network HOST|all | restore-network HOST|all | cut-storage HOST | restore-storage HOST
    kill-vm | engine-unhealthy | engine-healthy | degrade-host HOST cpu=0.95 mem=512 | heal-host HOST
    global-maintenance on|off | local-maintenance HOST on|off | set-priority HOST N
    migrate-vm HOST [TARGET] (the admin's request on HOST; TARGET 0 or absent: the best host)
    migrations ok|fail|hang|stuck (stuck: the abort does nothing)
    read-other-lease HOST (HOST reads another lease file at the same path)

Faults of real components, each as its real counterpart behaves (issue 12):

    cut-storage HOST hang       storage I/O hangs instead of failing (the env's deadlines expire)
    libvirt HOST down|up        libvirtd stopped / back: the VM runs on, its state is unknown
    destroy-fails HOST on|off   qemu stuck: the shutdown request is ignored, libvirt's destroy fails
    read-fails HOST on|off      whiteboard reads fail on HOST while its writes succeed
    hang-agent HOST | resume-agent HOST   the agent process stops (SIGSTOP); sanlock renews on;
                                systemd's watchdog restarts it after 60 s
    restart-sanlock HOST        `systemctl restart sanlock`: lease holders killed, lockspace left
    sanlock-kill-fails HOST on|off   sanlock's kill of the lease holder does not take
    pause-vm | resume-vm        the Engine VM pauses (lease released) / resumes (lease reacquired)
    corrupt-slot HOST           garbage in HOST's whiteboard slot (until HOST writes it again)
    forge-slot HOST             a stale slot for HOST claiming the Engine VM up at score 3400

Log lines: `LEVEL  seconds  host/component: message`. Invariants are checked after every event
(never two Engine VMs; a running VM is the lease holder) and reported as violations.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import yaml

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.ha.fsm import Timeouts
from vdsm_hosted_engine.observations import VmStatus
from vdsm_hosted_engine.sim.world import BOOT_SECONDS, SimHost, World
from vdsm_hosted_engine.storage import whiteboard

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Command:
    at: float
    name: str
    args: tuple[str, ...]
    line: int = 0
    fault: str = ""  # the random campaign's fault class that made this command

    def __post_init__(self) -> None:
        if not self.fault:
            object.__setattr__(self, "fault", self.name)


@dataclass
class Result:
    lines: list[str]
    violations: list[str]
    outages: list[tuple[float, float | None]]
    alerts: list[str]
    final_host: int | None
    world: World = field(repr=False)


def parse_commands(text: str, source: str = "commands") -> list[Command]:
    commands = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            at = float(parts[0])
        except ValueError:
            raise InvalidRequest(f"{source}:{number}: {parts[0]!r} is not a time in seconds") from None
        if len(parts) < 2 or parts[1] not in COMMANDS:
            raise InvalidRequest(f"{source}:{number}: unknown command {' '.join(parts[1:2])!r}")
        commands.append(Command(at, parts[1], tuple(parts[2:]), number))
    return sorted(commands, key=lambda c: (c.at, c.line))


# -- commands ------------------------------------------------------------------------------------


def _hosts(world: World, spec: str) -> list[SimHost]:
    if spec == "all":
        return list(world.hosts.values())
    if spec == "engine":
        running = world.running_vms()
        if not running:
            world.log(None, "world", "no host runs the Engine VM")
            return []
        return [world.hosts[running[0]]]
    try:
        return [world.hosts[int(spec)]]
    except (ValueError, KeyError):
        raise InvalidRequest(f"no host {spec!r}") from None


def _set_global_maintenance(world: World, on: bool) -> None:
    world.global_maintenance = on
    block = whiteboard.encode_global_slot(whiteboard.GlobalSlot(maintenance=on))
    world.slots[0 : constants.SLOT_SIZE] = block
    for host in world.hosts.values():
        world.wake(host)


def run_command(world: World, command: Command) -> None:
    name, args = command.name, command.args
    world.log(None, "world", " ".join((name, *args)))
    if name == "kill-vm":
        for host in _hosts(world, "engine"):
            world.vm_gone(host, "crashed")
        return
    if name in ("engine-unhealthy", "engine-healthy"):
        world.engine_healthy = name == "engine-healthy"
        return
    if name == "global-maintenance":
        _set_global_maintenance(world, args[0] == "on")
        return
    if name == "migrations":
        world.migration = args[0]
        return
    if name in ("pause-vm", "resume-vm"):
        for host in world.hosts.values():
            if host.powered and host.vm is not None:
                (world.pause_vm if name == "pause-vm" else world.resume_vm)(host)
        return
    for host in _hosts(world, args[0] if args else ""):
        if name == "power-on":
            world.power_on(host)
        elif name == "crash-host":
            world.crash(host)
        elif name == "restart-agent":
            world.stop_agent(host)
            from vdsm_hosted_engine.sim.env import SimEnv

            world.start_agent(host, SimEnv(world, host))
        elif name in ("cut-network", "restore-network"):
            host.net_up = name == "restore-network"
        elif name == "cut-storage":
            host.storage_ok = False
            host.storage_hangs = args[1:2] == ("hang",)
            world.stop_renewing(host)
        elif name == "restore-storage":
            host.storage_ok = True
            host.storage_hangs = False
            world.resume_renewing(host)
        elif name == "libvirt":
            host.libvirt_up = args[1] == "up"
        elif name == "destroy-fails":
            host.destroy_fails = args[1] == "on"
        elif name == "read-fails":
            host.read_fails = args[1] == "on"
        elif name == "hang-agent":
            world.hang_agent(host)
        elif name == "resume-agent":
            world.resume_agent(host)
        elif name == "restart-sanlock":
            if host.powered:
                world.sanlock.daemon_restart(host.host_id)
        elif name == "sanlock-kill-fails":
            world.sanlock.ids[host.host_id].kill_fails = args[1] == "on"
        elif name == "corrupt-slot":
            offset = host.host_id * constants.SLOT_SIZE
            world.slots[offset : offset + constants.SLOT_SIZE] = b"\xde\xad" * (constants.SLOT_SIZE // 2)
        elif name == "forge-slot":
            _forge_slot(world, host)
        elif name == "degrade-host":
            for arg in args[1:]:
                key, _, value = arg.partition("=")
                if key == "cpu":
                    host.cpu_load = float(value)
                elif key == "mem":
                    host.mem_free_mib = int(value)
                elif key == "bridge":
                    host.bridge_up = value != "down"
        elif name == "heal-host":
            host.cpu_load, host.mem_free_mib, host.bridge_up = 0.05, 16384, True
        elif name == "migrate-vm":
            host.migrate_request = int(args[1]) if len(args) > 1 else 0
        elif name == "read-other-lease":
            world.identities[host.host_id] = "sim-domain:other-lease-file"
        elif name == "local-maintenance":
            host.local_maintenance = args[1] == "on"
        elif name == "set-priority":
            host.priority = int(args[1])
            if host.agent is not None:
                host.agent.config = replace(host.agent.config, priority=host.priority)
        world.wake(host)


def _forge_slot(world: World, host: SimHost) -> None:
    """A slot for `host` saying its Engine VM is up and healthy at score 3400, as a stale or forged
    block would (the host itself may be down)."""
    slot = whiteboard.HostSlot(
        host_id=host.host_id,
        timestamp=int(world.now),
        score=3400,
        engine_status={"vm": "up", "health": "good", "detail": "Up", "reason": ""},
        hostname=host.name,
        state="EngineUp",
    )
    offset = host.host_id * constants.SLOT_SIZE
    world.slots[offset : offset + constants.SLOT_SIZE] = whiteboard.encode_host_slot(slot, 1_700_000_000.0 + world.now)


COMMANDS = {
    "power-on",
    "crash-host",
    "restart-agent",
    "cut-network",
    "restore-network",
    "cut-storage",
    "restore-storage",
    "kill-vm",
    "engine-unhealthy",
    "engine-healthy",
    "degrade-host",
    "heal-host",
    "global-maintenance",
    "local-maintenance",
    "set-priority",
    "migrate-vm",
    "migrations",
    "read-other-lease",
    "libvirt",
    "destroy-fails",
    "read-fails",
    "hang-agent",
    "resume-agent",
    "restart-sanlock",
    "sanlock-kill-fails",
    "pause-vm",
    "resume-vm",
    "corrupt-slot",
    "forge-slot",
}


# -- invariants and availability -----------------------------------------------------------------


def engine_available(world: World) -> bool:
    running = world.running_vms()
    if len(running) != 1 or not world.engine_healthy:
        return False
    vm = world.hosts[running[0]].vm
    return vm is not None and vm.status is VmStatus.UP and world.now - vm.started_at >= BOOT_SECONDS


class Checker:
    """Called after every event: invariants, and when the Engine was unavailable."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.outages: list[tuple[float, float | None]] = []
        self._down_since: float | None = 0.0

    def __call__(self, world: World) -> None:
        running = world.running_vms()
        if len(running) > 1:
            self.violations.append(f"{world.now:.1f}: Engine VM runs on hosts {running}")
        for host_id in running:
            if world.lease is None or world.lease[0] != host_id:
                self.violations.append(f"{world.now:.1f}: host{host_id} runs the Engine VM without its lease")
        available = engine_available(world)
        if available and self._down_since is not None:
            if self._down_since > 0:
                self.outages.append((self._down_since, world.now))
            self._down_since = None
        elif not available and self._down_since is None:
            self._down_since = world.now

    def finish(self, world: World) -> None:
        if self._down_since is not None and self._down_since > 0:
            self.outages.append((self._down_since, None))


def liveness_violations(outages: list[tuple[float, float | None]], last_fault: float, bound: float) -> list[str]:
    """Liveness: the outage running at or after the last fault ends within `bound` seconds of it."""
    found = []
    for start, end in outages:
        if end is None:
            found.append(f"liveness: Engine unavailable from {start:.1f} to the end (last fault at {last_fault:.1f})")
        elif end > last_fault and end - max(start, last_fault) > bound:
            found.append(
                f"liveness: Engine unavailable {start:.1f} - {end:.1f}, more than {bound:.0f} s after "
                f"the last fault at {last_fault:.1f}"
            )
    return found


# -- logging -------------------------------------------------------------------------------------


class _SimLogHandler(logging.Handler):
    def __init__(self, world: World, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self.world = world
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not getattr(record, "sim_direct", False):
            host = self.world.current
            component = record.name.rsplit(".", 1)[-1]
            message = f"{host.name if host else 'world'}/{component}: {message}"
        self.lines.append(f"{record.levelname:7} {self.world.now:7.1f}  {message}")


@contextlib.contextmanager
def capture(world: World, lines: list[str]) -> Iterator[None]:
    root = logging.getLogger("vdsm_hosted_engine")
    handler = _SimLogHandler(world, lines)
    old_level, old_propagate = root.level, root.propagate
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        root.propagate = old_propagate


# -- running -------------------------------------------------------------------------------------


def build_world(spec: dict) -> World:
    timeouts = replace(Timeouts(), **{k: float(v) for k, v in (spec.get("timeouts") or {}).items()})
    world = World(
        host_count=int(spec["hosts"]),
        io_timeout=int(spec.get("io_timeout", 1)),
        tick=float(spec.get("tick", 5)),
        timeouts=timeouts,
    )
    for host_id, priority in (spec.get("priorities") or {}).items():
        world.hosts[int(host_id)].priority = int(priority)
    return world


def run(spec: dict, commands: list[Command]) -> Result:
    world = build_world(spec)
    lines: list[str] = []
    checker = Checker()
    with capture(world, lines):
        for host_id in spec.get("start") or list(world.hosts):
            world.at(0.0, lambda h=world.hosts[int(host_id)]: world.power_on(h))
        for command in commands:
            world.at(command.at, lambda c=command: run_command(world, c))
        world.run_until(float(spec.get("duration", 300)), checker)
        checker.finish(world)
        if "engine_within" in spec:
            last = max((c.at for c in commands), default=0.0)
            checker.violations.extend(liveness_violations(checker.outages, last, float(spec["engine_within"])))
            if not engine_available(world) and not any(end is None for _, end in checker.outages):
                checker.violations.append("liveness: the Engine never came up")
        running = world.running_vms()
        final = running[0] if len(running) == 1 else None
        for start, end in checker.outages:
            if end is None:
                world.log(None, "summary", f"Engine unavailable from {start:.1f} to the end")
            else:
                world.log(None, "summary", f"Engine unavailable {start:.1f} - {end:.1f} ({end - start:.1f} s)")
        where = f"host{final}" if final else "nowhere"
        world.log(None, "summary", f"Engine VM on {where} at the end; invariant violations: {len(checker.violations)}")
    return Result(lines, checker.violations, checker.outages, world.alerts, final, world)


def load(directory: str) -> tuple[dict, list[Command]]:
    with open(os.path.join(directory, "hosts.yaml"), encoding="utf-8") as f:
        spec = yaml.safe_load(f) or {}
    path = os.path.join(directory, "commands")
    with open(path, encoding="utf-8") as f:
        commands = parse_commands(f.read(), path)
    return spec, commands


def compare(directory: str, result: Result, update: bool) -> tuple[bool, str]:
    """(matches, text): the diff against expected.log, or a note that it was (re)written."""
    golden = os.path.join(directory, "expected.log")
    actual = "\n".join(result.lines) + "\n"
    if update or not os.path.exists(golden):
        with open(golden, "w", encoding="utf-8") as f:
            f.write(actual)
        return True, f"wrote {golden}: review it before committing"
    with open(golden, encoding="utf-8") as f:
        expected = f.read()
    if expected == actual:
        return True, ""
    diff = difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), golden, "actual")
    return False, "".join(diff)
