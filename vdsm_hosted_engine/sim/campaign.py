"""Random fault schedules on 3-7 simulated hosts, invariants checked after every event.

Each run (one seed) draws a cluster size and a handful of faults at random times, runs them, then
heals everything (power, network, storage, maintenance, Engine health) and lets the cluster settle.
A run fails when two Engine VMs ever run at once, when a VM runs without the lease, or (liveness)
when the Engine is not up and healthy within LIVENESS_BOUND seconds of healing everything. Every
failure prints its seed, which replays it: `python -m vdsm_hosted_engine.sim campaign --runs 1
--seed SEED`. The fault classes are those of the scenario language (sim/scenario.py), some drawn
in pairs (a storage blip of 40 or 100 s, a power cut of every host and the power back at once or
one host at a time).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from vdsm_hosted_engine.sim import scenario
from vdsm_hosted_engine.sim.scenario import Checker, Command, engine_available

FAULT_WINDOW = (40.0, 600.0)
SETTLE = 500.0
# Liveness: once every fault is healed (every host eligible), the Engine is up and healthy within
# this many simulated seconds. The slowest legitimate path: a host that crashed with the Engine at
# the very end is powered on at the heal; the others see it LIVE again at once (a new generation
# frees the stale owner record), or, when an old owner never comes back, sanlock's host_dead
# (8 x io + 60 s = 68 s at io_timeout 1) + a tick + start + boot (20 s); a peer stuck in StartState
# holds a start back 30 s at most; a power-off retried with back-off waits 60 s at most.
LIVENESS_BOUND = 180.0

# (command, needs a host argument, weight)
FAULTS = (
    ("crash-host", True, 4),
    ("power-on", True, 2),
    ("power-cut-all", False, 1),
    ("cut-network", True, 3),
    ("restore-network", True, 2),
    ("cut-network-all", False, 1),
    ("restore-network-all", False, 1),
    ("cut-storage", True, 3),
    ("restore-storage", True, 2),
    ("storage-blip", True, 2),
    ("storage-hang", True, 1),
    ("storage-outage-all", False, 1),
    ("kill-vm", False, 3),
    ("pause-vm", False, 1),
    ("engine-unhealthy", False, 1),
    ("engine-healthy", False, 1),
    ("global-maintenance", False, 1),
    ("local-maintenance", True, 2),
    ("restart-agent", True, 2),
    ("hang-agent", True, 1),
    ("degrade-host", True, 2),
    ("heal-host", True, 1),
    ("libvirt-down", True, 2),
    ("destroy-fails", True, 1),
    ("read-fails", True, 1),
    ("restart-sanlock", True, 1),
    ("sanlock-kill-fails", True, 1),
    ("corrupt-slot", True, 1),
    ("forge-slot", True, 1),
    ("migrations", False, 1),
)


@dataclass
class RunOutcome:
    seed: int
    hosts: int
    commands: list[Command]
    violations: list[str]
    available_at_end: bool
    outages: list[tuple[str, float]]  # (fault that began it, seconds)
    last_fault: str = ""  # the class of the last fault before the heal
    recovery: float | None = None  # seconds from the heal until the Engine was up and healthy


@dataclass
class Report:
    runs: int
    failures: list[RunOutcome] = field(default_factory=list)
    outages: dict[str, list[float]] = field(default_factory=dict)
    recoveries: dict[str, list[float]] = field(default_factory=dict)  # last fault -> seconds after heal


def _fault(rng: random.Random, name: str, at: float, target: str, hosts: int) -> list[Command]:
    """The commands of one drawn fault (some come in pairs: a cut and its end)."""
    if name == "cut-network-all":
        return [Command(at, "cut-network", ("all",), 0, name)]
    if name == "restore-network-all":
        return [Command(at, "restore-network", ("all",), 0, name)]
    if name == "power-cut-all":
        back = at + rng.choice([5.0, 30.0, 120.0])
        if rng.random() < 0.5:
            return [Command(at, "crash-host", ("all",), 0, name), Command(back, "power-on", ("all",), 0, name)]
        order = rng.sample(range(1, hosts + 1), hosts)
        return [Command(at, "crash-host", ("all",), 0, name)] + [
            Command(back + 20.0 * i, "power-on", (str(h),), 0, name) for i, h in enumerate(order)
        ]
    if name == "storage-blip":
        host = target if target != "engine" else str(rng.randint(1, hosts))
        seconds = rng.choice([40.0, 100.0])
        return [
            Command(at, "cut-storage", (host,), 0, name),
            Command(at + seconds, "restore-storage", (host,), 0, name),
        ]
    if name == "storage-hang":
        return [Command(at, "cut-storage", (target, "hang"), 0, name)]
    if name == "storage-outage-all":
        seconds = rng.choice([60.0, 100.0])
        return [
            Command(at, "cut-storage", ("all",), 0, name),
            Command(at + seconds, "restore-storage", ("all",), 0, name),
        ]
    if name == "global-maintenance":
        return [Command(at, name, (rng.choice(["on", "off"]),), 0, name)]
    if name == "local-maintenance":
        return [Command(at, name, (target, rng.choice(["on", "off"])), 0, name)]
    if name == "degrade-host":
        args = (target, f"cpu={rng.choice([0.7, 0.95])}", f"mem={rng.choice([512, 16384])}")
        return [Command(at, name, args, 0, name)]
    if name == "libvirt-down":
        return [Command(at, "libvirt", (target, "down"), 0, name)]
    if name in ("destroy-fails", "read-fails", "sanlock-kill-fails"):
        return [Command(at, name, (target, "on"), 0, name)]
    if name == "migrations":
        return [Command(at, name, (rng.choice(["fail", "hang", "stuck"]),), 0, name)]
    if name in ("kill-vm", "pause-vm", "engine-unhealthy", "engine-healthy"):
        return [Command(at, name, (), 0, name)]
    return [Command(at, name, (target,), 0, name)]


def schedule(rng: random.Random, hosts: int) -> list[Command]:
    names = [f[0] for f in FAULTS]
    weights = [f[2] for f in FAULTS]
    commands = []
    for _ in range(rng.randint(2, 8)):
        name = rng.choices(names, weights)[0]
        at = round(rng.uniform(*FAULT_WINDOW), 1)
        target = rng.choice(["engine", *map(str, range(1, hosts + 1))])
        commands.extend(c for c in _fault(rng, name, at, target, hosts) if c.at < FAULT_WINDOW[1] + 20)
    return sorted(commands, key=lambda c: c.at)


def heal(hosts: int, at: float) -> list[Command]:
    """Every fault undone at `at`: every host eligible again."""
    commands = [Command(at, "global-maintenance", ("off",)), Command(at, "engine-healthy", ())]
    commands += [Command(at, "restore-network", ("all",)), Command(at, "migrations", ("ok",))]
    for host in range(1, hosts + 1):
        for name, args in (
            ("power-on", ()),
            ("restore-storage", ()),
            ("local-maintenance", ("off",)),
            ("heal-host", ()),
            ("libvirt", ("up",)),
            ("destroy-fails", ("off",)),
            ("read-fails", ("off",)),
            ("sanlock-kill-fails", ("off",)),
            ("resume-agent", ()),
        ):
            commands.append(Command(at, name, (str(host), *args)))
    return commands


def run_one(seed: int) -> RunOutcome:
    rng = random.Random(seed)
    hosts = rng.randint(3, 7)
    faults = schedule(rng, hosts)
    heal_at = FAULT_WINDOW[1] + 20
    commands = faults + heal(hosts, heal_at)
    spec = {"hosts": hosts, "duration": heal_at + SETTLE}
    world = scenario.build_world(spec)
    checker = Checker()
    lines: list[str] = []
    with scenario.capture(world, lines):
        for host in world.hosts.values():
            world.at(0.0, lambda h=host: world.power_on(h))
        for command in commands:
            world.at(command.at, lambda c=command: scenario.run_command(world, c))
        world.run_until(spec["duration"], checker)
        checker.finish(world)
    outages = []
    for start, end in checker.outages:
        if end is not None:
            cause = [c for c in faults if c.at <= start + 0.01]
            outages.append((cause[-1].fault if cause else "start", end - start))
    recovery = _recovery(checker.outages, heal_at) if engine_available(world) else None
    violations = list(checker.violations)
    if recovery is None or recovery > LIVENESS_BOUND:
        said = "never" if recovery is None else f"only {recovery:.0f} s"
        violations.append(f"liveness: Engine up and healthy {said} after everything was healed at {heal_at:.0f} s")
    last = faults[-1].fault if faults else ""
    return RunOutcome(seed, hosts, commands, violations, engine_available(world), outages, last, recovery)


def _recovery(outages: list[tuple[float, float | None]], healed_at: float) -> float | None:
    """Seconds from the heal until the Engine was first up and healthy (0: it was up then)."""
    for start, end in outages:
        if start <= healed_at and (end is None or end > healed_at):
            return None if end is None else end - healed_at
    return 0.0


def run_many(runs: int, seed: int = 1) -> Report:
    return report_of(map(run_one, range(seed, seed + runs)), runs)


def report_of(outcomes: Iterable[RunOutcome], runs: int) -> Report:
    report = Report(runs)
    for outcome in outcomes:
        if outcome.violations or not outcome.available_at_end:
            report.failures.append(outcome)
        for cause, seconds in outcome.outages:
            report.outages.setdefault(cause, []).append(seconds)
        if outcome.recovery is not None:
            report.recoveries.setdefault(outcome.last_fault, []).append(outcome.recovery)
    return report


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def render(report: Report) -> str:
    lines = [f"{report.runs} random schedules, {len(report.failures)} failed"]
    for failure in report.failures[:10]:
        why = "; ".join(failure.violations[:3]) or "Engine not up and healthy after healing"
        lines.append(f"  FAILED seed {failure.seed} ({failure.hosts} hosts): {why}")
    lines += ["", "Engine unavailability by the fault that began it (simulated seconds):"]
    lines += _table("fault", report.outages)
    lines += ["", f"Recovery after everything was healed, by the last fault (bound {LIVENESS_BOUND:.0f} s):"]
    lines += _table("last fault", report.recoveries)
    return "\n".join(lines)


def _table(what: str, seconds: dict[str, list[float]]) -> list[str]:
    """Count and percentiles per key, one row each, keys sorted."""
    rows = [f"  {what:20}{'count':>7}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}"]
    for key in sorted(seconds):
        values = seconds[key]
        rows.append(
            f"  {key:20}{len(values):>7}{statistics.median(values):>8.1f}{_pct(values, 0.9):>8.1f}"
            f"{_pct(values, 0.99):>8.1f}{max(values):>8.1f}"
        )
    return rows
