"""Random fault schedules on 3-7 simulated hosts, invariants checked after every event.

Each run (one seed) draws a cluster size and a handful of faults at random times, runs them, then
heals everything (power, network, storage, maintenance, Engine health) and lets the cluster settle.
A run fails when two Engine VMs ever run at once, when a VM runs without the lease, or when after
healing the Engine is not up and healthy somewhere. Every failure prints its seed, which replays it:
`python -m vdsm_hosted_engine.sim campaign --runs 1 --seed SEED`.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field

from vdsm_hosted_engine.sim import scenario
from vdsm_hosted_engine.sim.scenario import Checker, Command, engine_available

FAULT_WINDOW = (40.0, 600.0)
SETTLE = 500.0

# (command, needs a host argument, weight)
FAULTS = (
    ("crash-host", True, 4),
    ("power-on", True, 2),
    ("cut-network", True, 3),
    ("restore-network", True, 2),
    ("cut-network-all", False, 1),
    ("restore-network-all", False, 1),
    ("cut-storage", True, 3),
    ("restore-storage", True, 2),
    ("kill-vm", False, 3),
    ("engine-unhealthy", False, 1),
    ("engine-healthy", False, 1),
    ("global-maintenance", False, 1),
    ("local-maintenance", True, 2),
    ("restart-agent", True, 2),
    ("degrade-host", True, 2),
    ("heal-host", True, 1),
)


@dataclass
class RunOutcome:
    seed: int
    hosts: int
    commands: list[Command]
    violations: list[str]
    available_at_end: bool
    outages: list[tuple[str, float]]  # (fault that began it, seconds)


@dataclass
class Report:
    runs: int
    failures: list[RunOutcome] = field(default_factory=list)
    outages: dict[str, list[float]] = field(default_factory=dict)


def schedule(rng: random.Random, hosts: int) -> list[Command]:
    names = [f[0] for f in FAULTS]
    weights = [f[2] for f in FAULTS]
    needs_host = {f[0]: f[1] for f in FAULTS}
    commands = []
    for _ in range(rng.randint(2, 8)):
        name = rng.choices(names, weights)[0]
        at = round(rng.uniform(*FAULT_WINDOW), 1)
        target = rng.choice(["engine", *map(str, range(1, hosts + 1))])
        if name == "cut-network-all":
            commands.append(Command(at, "cut-network", ("all",)))
        elif name == "restore-network-all":
            commands.append(Command(at, "restore-network", ("all",)))
        elif name == "global-maintenance":
            commands.append(Command(at, name, (rng.choice(["on", "off"]),)))
        elif name == "local-maintenance":
            commands.append(Command(at, name, (target, rng.choice(["on", "off"]))))
        elif name == "degrade-host":
            commands.append(
                Command(at, name, (target, f"cpu={rng.choice([0.7, 0.95])}", f"mem={rng.choice([512, 16384])}"))
            )
        elif needs_host[name]:
            commands.append(Command(at, name, (target,)))
        else:
            commands.append(Command(at, name, ()))
    return sorted(commands, key=lambda c: c.at)


def heal(hosts: int, at: float) -> list[Command]:
    commands = [Command(at, "global-maintenance", ("off",)), Command(at, "engine-healthy", ())]
    commands.append(Command(at, "restore-network", ("all",)))
    for host in range(1, hosts + 1):
        for name, args in (
            ("power-on", ()),
            ("restore-storage", ()),
            ("local-maintenance", ("off",)),
            ("heal-host", ()),
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
        if end is None:
            continue
        cause = [c for c in faults if c.at <= start + 0.01]
        outages.append((cause[-1].name if cause else "start", end - start))
    return RunOutcome(seed, hosts, commands, checker.violations, engine_available(world), outages)


def run_many(runs: int, seed: int = 1) -> Report:
    report = Report(runs)
    for n in range(runs):
        outcome = run_one(seed + n)
        if outcome.violations or not outcome.available_at_end:
            report.failures.append(outcome)
        for cause, seconds in outcome.outages:
            report.outages.setdefault(cause, []).append(seconds)
    return report


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def render(report: Report) -> str:
    lines = [f"{report.runs} random schedules, {len(report.failures)} failed"]
    for failure in report.failures[:10]:
        why = "; ".join(failure.violations[:3]) or "Engine not up and healthy after healing"
        lines.append(f"  FAILED seed {failure.seed} ({failure.hosts} hosts): {why}")
    lines.append("")
    lines.append("Engine unavailability by the fault that began it (simulated seconds):")
    lines.append(f"  {'fault':20}{'count':>7}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}")
    for cause in sorted(report.outages):
        values = report.outages[cause]
        lines.append(
            f"  {cause:20}{len(values):>7}{statistics.median(values):>8.1f}{_pct(values, 0.9):>8.1f}"
            f"{_pct(values, 0.99):>8.1f}{max(values):>8.1f}"
        )
    return "\n".join(lines)
