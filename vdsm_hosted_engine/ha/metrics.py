"""Prometheus metrics of this host's HA agent (`prometheus_client`), all named `hosted_engine_*`.

Gauges are built at scrape time from the agent's last cycle (`View`, read without locks: the agent
replaces each of those objects whole), so a scrape never waits for the agent nor the agent for a
scrape; `gauges(view)` is pure. Counters and histograms are updated by the daemon's listener on
the agent thread (`decided`, `observe`). Served by the daemon (loopback by default; TLS with the
host's certificate on any other address) and optionally written as a node_exporter textfile.

| series | labels | meaning |
|---|---|---|
| `hosted_engine_up` | | 1 once the agent has finished a cycle |
| `hosted_engine_host_score` | host_id | score published by each host (this one: this cycle's) |
| `hosted_engine_score_penalty` | penalty | what this host's score lost, by reason |
| `hosted_engine_state` | state | one-hot: this host's state (every state listed) |
| `hosted_engine_state_seconds` | | seconds this host has been in its state |
| `hosted_engine_engine_vm_status` | status | one-hot: the Engine VM on this host, as libvirt says |
| `hosted_engine_engine_health` | health | one-hot: the Engine's health page, as seen from here |
| `hosted_engine_engine_host_id` | | host whose slot says it runs the Engine VM (0: none) |
| `hosted_engine_lease_owner_host_id` | | live holder of the Engine VM lease (0: free; absent: unreadable) |
| `hosted_engine_monitor_value` | monitor | each broker monitor's numeric value (booleans 0/1) |
| `hosted_engine_monitor_age_seconds` | monitor | age of each monitor's last result |
| `hosted_engine_monitor_fresh` | monitor | 1 when that result is within its TTL |
| `hosted_engine_peer_liveness` | host_id, liveness | one-hot: each other host as sanlock sees it |
| `hosted_engine_failover_hosts` | | hosts that could start the Engine VM now |
| `hosted_engine_failover_spare_memory_mib` | | largest free memory among those hosts |
| `hosted_engine_global_maintenance`, `..._local_maintenance` | | 1 when on |
| `hosted_engine_actions_total` | action | VM actions begun (start, shutdown, destroy, migrate, ...) |
| `hosted_engine_alerts_total` | | alerts raised |
| `hosted_engine_lost_lease_races_total` | | starts sanlock refused: another host took the lease first |
| `hosted_engine_transitions_total` | state | transitions into each state |
| `hosted_engine_cycle_seconds` | | histogram: one agent cycle (refresh, decide, act, publish) |
| `hosted_engine_whiteboard_read_seconds` | | histogram: one read of the whole whiteboard |
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, Metric

from vdsm_hosted_engine.ha import capacity
from vdsm_hosted_engine.ha.fsm import Decision, State
from vdsm_hosted_engine.ha.score import Score
from vdsm_hosted_engine.ha.snapshot import ActionKind, Snapshot
from vdsm_hosted_engine.observations import Health, VmStatus
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.whiteboard import Whiteboard

logger = logging.getLogger(__name__)

PREFIX = "hosted_engine"
# A cycle takes milliseconds when storage answers and up to the call timeout (10 s) when it hangs.
CYCLE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
READ_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 10.0)


@dataclass(frozen=True)
class View:
    """What the gauges are made of: the agent's last cycle and the broker's monitors."""

    host_id: int
    decision: Decision | None
    snapshot: Snapshot | None
    score: Score | None
    board: Whiteboard | None
    monitors: Mapping[str, Mapping[str, Any]]
    vm_mem_mib: int
    joined: bool


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=list(labels))


def _one_hot(name: str, doc: str, label: str, values: list[str], current: str) -> GaugeMetricFamily:
    family = _gauge(name, doc, (label,))
    for value in values:
        family.add_metric([value], 1.0 if value == current else 0.0)
    return family


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def gauges(view: View) -> list[Metric]:
    """Every gauge for `view` (pure); only `hosted_engine_up` 0 before the first cycle."""
    up = _gauge("up", "1 once the agent has finished a cycle")
    decision, snapshot = view.decision, view.snapshot
    up.add_metric([], 0.0 if decision is None or snapshot is None else 1.0)
    if decision is None or snapshot is None:
        return [up]
    found: list[Metric] = [up]

    scores = _gauge("host_score", "score published by each host (this one: this cycle's)", ("host_id",))
    published = {h: slot.score for h, slot in view.board.hosts.items()} if view.board is not None else {}
    published[view.host_id] = decision.score
    for host_id, value in sorted(published.items()):
        scores.add_metric([str(host_id)], float(value))
    found.append(scores)

    penalties = _gauge("score_penalty", "what this host's score lost, by reason", ("penalty",))
    for reason, amount in view.score.penalties if view.score is not None else ():
        penalties.add_metric([reason], float(amount))
    found.append(penalties)

    found.append(_one_hot("state", "this host's state", "state", [s.value for s in State], decision.state.value))
    in_state = _gauge("state_seconds", "seconds this host has been in its state")
    in_state.add_metric([], max(0.0, snapshot.now - decision.memory.since))
    found.append(in_state)
    found.append(
        _one_hot(
            "engine_vm_status", "the Engine VM on this host", "status", [v.value for v in VmStatus], snapshot.vm.value
        )
    )
    found.append(
        _one_hot(
            "engine_health", "the Engine's health page", "health", [h.value for h in Health], snapshot.health.value
        )
    )

    liveness = {h: p.liveness for h, p in (snapshot.peers or {}).items()}
    if view.joined:
        liveness[view.host_id] = Liveness.LIVE
    if view.board is not None:
        fit = capacity.failover_capacity(view.board, liveness, view.vm_mem_mib)
        engine = _gauge("engine_host_id", "host whose slot says it runs the Engine VM (0: none)")
        engine.add_metric([], float(fit["engineHost"] or 0))
        able = [int(h) for h, entry in fit["hosts"].items() if entry["canStart"]]
        hosts = _gauge("failover_hosts", "hosts that could start the Engine VM now")
        hosts.add_metric([], float(len(able)))
        spare = _gauge("failover_spare_memory_mib", "largest free memory among the hosts that could start it")
        free = [view.board.hosts[h].extra.get("mem_free_mib", "") for h in able]
        spare.add_metric([], float(max((int(m) for m in free if m.isdigit()), default=0)))
        found += [engine, hosts, spare]
    if snapshot.lease_known:
        owner = _gauge("lease_owner_host_id", "live holder of the Engine VM lease (0: free)")
        owner.add_metric([], float(snapshot.lease_owner or 0))
        found.append(owner)

    peers = _gauge("peer_liveness", "each other host as sanlock sees it", ("host_id", "liveness"))
    for host_id, peer in sorted((snapshot.peers or {}).items()):
        for state in Liveness:
            peers.add_metric([str(host_id), state.value], 1.0 if peer.liveness is state else 0.0)
    found.append(peers)

    values = _gauge("monitor_value", "each broker monitor's numeric value (booleans 0/1)", ("monitor",))
    ages = _gauge("monitor_age_seconds", "age of each monitor's last result", ("monitor",))
    fresh = _gauge("monitor_fresh", "1 when the monitor's last result is within its TTL", ("monitor",))
    for name, status in sorted(view.monitors.items()):
        number = _number(status.get("value"))
        if number is not None:
            values.add_metric([name], number)
        if status.get("age") is not None:
            ages.add_metric([name], float(status["age"]))
        fresh.add_metric([name], 1.0 if status.get("fresh") else 0.0)
    found += [values, ages, fresh]

    for name, on in (("global", snapshot.global_maintenance), ("local", snapshot.local_maintenance)):
        flag = _gauge(f"{name}_maintenance", f"1 when {name} maintenance is on")
        flag.add_metric([], 1.0 if on else 0.0)
        found.append(flag)
    return found


class _Gauges:
    """A custom collector: the gauges, made when scraped."""

    def __init__(self, view: Callable[[], View]) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        try:
            yield from gauges(self.view())
        except Exception:  # a bug here must fail the scrape, never the agent
            logger.exception("bug while collecting the metrics")
            raise


class Metrics:
    """The registry, the counters and histograms, and the textfile writer."""

    def __init__(self, view: Callable[[], View], textfile: str | None = None, textfile_every: float = 15.0) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Gauges(view))
        r = self.registry
        self.actions = Counter(f"{PREFIX}_actions", "VM actions begun", ["action"], registry=r)
        self.alerts = Counter(f"{PREFIX}_alerts", "alerts raised", registry=r)
        self.lost_races = Counter(
            f"{PREFIX}_lost_lease_races", "starts sanlock refused: another host took the lease", registry=r
        )
        self.transitions = Counter(f"{PREFIX}_transitions", "transitions into each state", ["state"], registry=r)
        self.cycle = Histogram(f"{PREFIX}_cycle_seconds", "one agent cycle", buckets=CYCLE_BUCKETS, registry=r)
        self.board_read = Histogram(
            f"{PREFIX}_whiteboard_read_seconds", "one read of the whole whiteboard", buckets=READ_BUCKETS, registry=r
        )
        for kind in ActionKind:
            if kind is not ActionKind.ALERT:
                self.actions.labels(kind.value)  # every series present from the start, at 0
        self._state: State | None = None
        self.textfile = textfile
        self.textfile_every = textfile_every
        self._written_at = float("-inf")
        self._textfile_error = ""

    def decided(self, decision: Decision, snapshot: Snapshot | None) -> None:
        """Count the cycle's actions, a lost lease race and a transition (the agent thread)."""
        for action in decision.actions:
            if action.kind is ActionKind.ALERT:
                self.alerts.inc()
            else:
                self.actions.labels(action.kind.value).inc()
        result = snapshot.action_result if snapshot is not None else None
        if result is not None and result.lease_held_elsewhere:
            self.lost_races.inc()
        if self._state is not None and decision.state is not self._state:
            self.transitions.labels(decision.state.value).inc()
        self._state = decision.state
        self.write_textfile()

    def observe(self, what: str, seconds: float) -> None:
        """A duration the agent measured: `cycle` or `whiteboard_read`."""
        (self.cycle if what == "cycle" else self.board_read).observe(seconds)

    def write_textfile(self, now: float | None = None) -> None:
        """At most once per `textfile_every` s: node_exporter's textfile collector reads it (written
        to a temporary file and renamed, so it never reads half of one). A failure is logged once."""
        now = time.monotonic() if now is None else now
        if self.textfile is None or now - self._written_at < self.textfile_every:
            return
        self._written_at = now
        try:
            write_to_textfile(self.textfile, self.registry)
            self._textfile_error = ""
        except OSError as e:
            if str(e) != self._textfile_error:
                logger.warning("cannot write the metrics textfile %s: %s", self.textfile, e)
                self._textfile_error = str(e)


def serve(registry: CollectorRegistry, address: str, port: int, pki_dir: str) -> Any | None:
    """The metrics listener (`/metrics` on its own thread), or None when `port` is 0 or it cannot
    listen (logged: metrics never stop HA). Plain HTTP on loopback; on any other address TLS with
    the host's VDSM certificate (`pki_dir`/certs/vdsmcert.pem, keys/vdsmkey.pem). Stop it with
    `shutdown()` then `server_close()`."""
    if not port:
        return None
    tls: dict[str, str] = {}
    if not ipaddress.ip_address(address).is_loopback:
        tls = {
            "certfile": os.path.join(pki_dir, "certs/vdsmcert.pem"),
            "keyfile": os.path.join(pki_dir, "keys/vdsmkey.pem"),
        }
    try:
        server, _thread = start_http_server(port, address, registry, **tls)
    except OSError as e:  # ssl.SSLError is one
        logger.warning("no metrics listener on %s port %d: %s", address, port, e)
        return None
    logger.info("metrics served on %s://%s:%d/metrics", "https" if tls else "http", address, port)
    return server
