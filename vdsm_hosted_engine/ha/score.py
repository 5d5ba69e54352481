"""A host's score: how good a place it is to run the Engine VM (pure).

oVirt's weights by default (agent.conf `[score]`, REFERENCE.md): base 3400; network -(1 - success
fraction) x 1600; management bridge down -600; CPU load excluding the Engine VM: 0 below 40 %,
linear to -1000 at 90 %; free memory below the VM's memory -400 (not while the VM runs here);
-50 per start retry and 0 after more than 3; configuration outdated -1000. The network weighs most
by design: a host that lost the management network must lose to any host that has it.

A monitor with no fresh value counts as failed (the worst value), never as healthy.

The host **priority** is not part of the score: it orders hosts of equal score (`rank`), so it can
pick where a stopped Engine starts but never moves a running one (only a score gap of at least the
restart threshold does: no ping-pong).
"""

from __future__ import annotations

from dataclasses import dataclass

from vdsm_hosted_engine.config import ScoreConfig

# A remote host must score at least this much more than the Engine's host before the Engine is
# handed over to it (oVirt's 800).
RESTART_THRESHOLD = 800
MAX_START_RETRIES = 3


@dataclass(frozen=True)
class ScoreInputs:
    """Monitor values (None = no fresh value) and the agent's own facts."""

    network: float | None  # success fraction of the last probes, 0..1
    bridge_up: bool | None
    mem_free_mib: int | None
    cpu_load: float | None  # busy fraction of the host excluding the Engine VM, 0..1
    vm_mem_mib: int
    vm_running_here: bool = False
    start_retries: int = 0
    config_outdated: bool = False


@dataclass(frozen=True)
class Score:
    value: int
    penalties: tuple[tuple[str, int], ...] = ()

    def explain(self) -> str:
        if not self.penalties:
            return f"{self.value}"
        parts = ", ".join(f"{reason} -{amount}" for reason, amount in self.penalties)
        return f"{self.value} ({parts})"


def compute(config: ScoreConfig, inputs: ScoreInputs) -> Score:
    """The score and the penalties that made it, largest first."""
    if inputs.start_retries > MAX_START_RETRIES:
        return Score(0, (("start retries exhausted", config.base),))
    penalties: list[tuple[str, int]] = []
    network = 0.0 if inputs.network is None else min(max(inputs.network, 0.0), 1.0)
    if network < 1.0:
        penalties.append(("network", round((1.0 - network) * config.gateway_penalty)))
    if inputs.bridge_up is not True:
        penalties.append(("management bridge down", config.bridge_penalty))
    load = 1.0 if inputs.cpu_load is None else inputs.cpu_load
    if load > config.cpu_load_min:
        span = config.cpu_load_max - config.cpu_load_min
        fraction = min((load - config.cpu_load_min) / span, 1.0)
        penalties.append(("cpu load", round(fraction * config.cpu_penalty)))
    if not inputs.vm_running_here and (inputs.mem_free_mib is None or inputs.mem_free_mib < inputs.vm_mem_mib):
        penalties.append(("free memory", config.memory_penalty))
    if inputs.start_retries:
        penalties.append(("start retries", inputs.start_retries * config.retry_penalty))
    if inputs.config_outdated:
        penalties.append(("configuration outdated", config.config_outdated_penalty))
    penalties = [p for p in penalties if p[1] > 0]
    penalties.sort(key=lambda p: -p[1])
    value = max(config.base - sum(amount for _, amount in penalties), 0)
    return Score(value, tuple(penalties))


def rank(score: int, priority: int, host_id: int) -> tuple[int, int, int]:
    """Sort key, best first when sorted descending: score, then priority, then the lower host id
    (a deterministic last resort; the lease still decides any race)."""
    return (score, priority, -host_id)
