"""The agent loop: refresh -> decide -> act -> publish, once per tick.

The loop keeps no logic of its own: `refresh` turns the Env's answers into a Snapshot, `fsm.step`
decides, the agent starts the actions it returns (slow ones run off the loop, so leases and the
whiteboard keep being refreshed while a VM starts) and publishes this host's slot.

Every tick ends in one sentence, logged once at INFO; steady repeats are not logged again. A bug in a
tick is logged with its traceback once and the loop goes on ("unexpected error in ...").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from vdsm_hosted_engine.config import ScoreConfig
from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.ha import fsm, score
from vdsm_hosted_engine.ha.env import Env
from vdsm_hosted_engine.ha.fsm import Decision, Memory, State, Timeouts
from vdsm_hosted_engine.ha.snapshot import ActionKind, Peer, Snapshot
from vdsm_hosted_engine.ha.view import ClusterView
from vdsm_hosted_engine.observations import MonitorValues, VmStatus
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.whiteboard import HostSlot, Whiteboard

logger = logging.getLogger(__name__)

BUG_SENTENCE = "unexpected error in {step}, please report it as a bug"


@dataclass(frozen=True)
class AgentConfig:
    host_id: int
    hostname: str
    vm_mem_mib: int = 4096
    priority: int = 0
    tick: float = 5.0
    stale_after: float = 30.0  # a peer slot whose timestamp has not changed this long is not trusted
    monitor_skew: float = 0.0  # how much later than this host another may measure the same event
    # (its monitors' interval + probe time, unsynchronised between hosts)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    timeouts: Timeouts = field(default_factory=Timeouts)


@dataclass(frozen=True)
class MigrationAnswer:
    """The agent's answer to the admin's last live-migration request."""

    number: int  # how many requests this agent has answered, this one included
    target: int | None  # the destination it started migrating to; None: refused
    sentence: str  # the cycle's sentence (why, when refused)


def engine_status(vm: VmStatus, reason: str, monitors: MonitorValues, state: State) -> dict[str, str]:
    """This host's engine-status JSON, as oVirt publishes it."""
    if vm.running:
        health = monitors.engine_health.value if monitors.engine_health.value != "unknown" else "bad"
        detail = {"powering_up": "Powering up", "paused": "Paused", "powering_down": "Powering down"}.get(
            vm.value, "Up"
        )
        return {"vm": "up", "health": health, "detail": detail, "reason": monitors.engine_detail}
    if vm is VmStatus.UNKNOWN:
        return {"vm": "unknown", "health": "unknown", "detail": "unknown", "reason": "VM runtime not answering"}
    if state is State.ENGINE_UNEXPECTEDLY_DOWN:
        return {"vm": "down_unexpected", "health": "bad", "detail": "Down", "reason": reason or "crashed"}
    return {"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}


def peers_from(
    board: Whiteboard,
    liveness: dict[int, Liveness],
    me: int,
    ages: dict[int, float] | None = None,
    stale_after: float = 30.0,
) -> dict[int, Peer]:
    """Every other host that has a valid slot or a sanlock lease, with sanlock's liveness."""
    peers: dict[int, Peer] = {}
    for host_id in sorted(set(board.hosts) | set(liveness)):
        if host_id == me:
            continue
        slot = board.hosts.get(host_id)
        live = liveness.get(host_id, Liveness.FREE)
        if slot is None:
            peers[host_id] = Peer(host_id=host_id, score=0, liveness=live)
            continue
        try:
            priority = int(slot.extra.get("priority", "0"))
        except ValueError:
            priority = 0
        migrating_to = slot.extra.get("migrating_to", "")
        peers[host_id] = Peer(
            host_id=host_id,
            score=slot.score,
            liveness=live,
            priority=priority,
            engine_vm=str(slot.engine_status.get("vm", "unknown")),
            engine_health=str(slot.engine_status.get("health", "bad")),
            state=slot.state,
            identity=slot.extra.get("identity", ""),
            migrating_to=int(migrating_to) if migrating_to.isdigit() else None,
            maintenance=slot.maintenance,
            stopped=slot.stopped,
            fresh=True if ages is None else ages.get(host_id, 0.0) <= stale_after,
            age=0.0 if ages is None else ages.get(host_id, 0.0),
        )
    return peers


class Agent:
    """One host's HA agent; `tick()` is one cycle, `run()` loops until `stop()`."""

    def __init__(self, env: Env, config: AgentConfig) -> None:
        self.env = env
        # Every host losing the network at once must move nothing: the others measure and publish
        # the loss up to `monitor_skew` + two ticks after this host sees it, so a gap must outlast that.
        min_hold = config.monitor_skew + 2 * config.tick
        if config.timeouts.handover_hold < min_hold:
            logger.info(
                "handover hold %.0f s is shorter than the monitors' skew between hosts (%.0f s) plus two ticks; "
                "using %.0f s",
                config.timeouts.handover_hold,
                config.monitor_skew,
                min_hold,
            )
            config = replace(config, timeouts=replace(config.timeouts, handover_hold=min_hold))
        if config.timeouts.peer_fresh < 2 * config.tick:
            # A peer publishes once a tick: with a long tick a working peer's slot is older than
            # `peer_fresh` half the time, and no handover would ever find a target.
            logger.info(
                "peer_fresh %.0f s is under two ticks; using %.0f s", config.timeouts.peer_fresh, 2 * config.tick
            )
            config = replace(config, timeouts=replace(config.timeouts, peer_fresh=2 * config.tick))
        self.config = config
        self.memory = Memory(since=env.now())
        self.last: Decision | None = None
        self.last_snapshot: Snapshot | None = None
        self._stop = threading.Event()
        self._failing: dict[str, str] = {}
        self.joined = False
        self._last_bug = ""
        self.view: ClusterView | None = None  # the last cycle's whiteboard and liveness, for the verbs
        self.listener: Callable[[Decision], None] | None = None  # told of every decision (events)
        self.heartbeat: Callable[[], None] | None = None  # called every cycle, bug or not (watchdog)
        self.timing: Callable[[str, float], None] | None = None  # ("cycle" | "whiteboard_read", seconds): metrics
        self.score: score.Score | None = None  # the last cycle's score and its penalties, for the metrics
        self._seen: dict[int, tuple[int, float]] = {}
        self._answers = threading.Condition()
        self._asking = threading.Lock()
        self._answer = MigrationAnswer(0, None, "")
        self.started = env.now()
        self._global_maintenance = False  # the last valid global slot's flag

    # -- one cycle ---------------------------------------------------------------------------

    def refresh(self) -> tuple[Snapshot, MonitorValues]:
        env, cfg = self.env, self.config
        held: bool | None = None
        try:
            held = env.ensure_lockspace()
            self._recovered("lockspace")
        except HostedEngineError as e:
            self._note("lockspace", f"cannot join the lockspace: {e}")
        self.joined = held is True
        now = env.now()
        monitors = env.monitors()
        vm, reason = env.vm_status()
        running, result = env.action_status()
        peers: dict[int, Peer] | None = None
        monitors_ready = monitors.ready or now - self.started >= cfg.timeouts.monitors
        # No value yet is not a bad value; once the monitors had their chance, a missing one is.
        storage_ok = monitors.storage_ok is not False if not monitors_ready else monitors.storage_ok is True
        storage_error = ""
        try:
            reading = env.now()
            board = env.read_whiteboard()
            self._timed("whiteboard_read", reading)
            if board.global_valid:
                self._global_maintenance = board.global_maintenance
                self._recovered("global slot")
            else:
                self._note("global slot", "the global slot is invalid; keeping the last valid maintenance flag")
            liveness = env.liveness() if self.joined else None
            if liveness is not None:
                peers = peers_from(board, liveness, cfg.host_id, self._ages(board, now), cfg.stale_after)
            self.view = ClusterView(board, liveness or {}, now)
            self._recovered("whiteboard")
        except HostedEngineError as e:
            storage_ok = False
            storage_error = str(e)
            self._note("whiteboard", f"cannot read the whiteboard: {e}")
        lease_owner, lease_known = None, True
        try:
            lease_owner = env.lease_owner()
            self._recovered("lease")
        except HostedEngineError as e:
            lease_known = False
            self._note("lease", f"cannot read the Engine VM lease: {e}")
        try:
            identity = env.identity()
            self._recovered("identity")
        except HostedEngineError as e:
            identity = ""
            self._note("identity", f"cannot read this host's domain and lease identity: {e}")
        inputs = score.ScoreInputs(
            network=monitors.network,
            bridge_up=monitors.bridge_up,
            mem_free_mib=monitors.mem_free_mib,
            cpu_load=monitors.cpu_load,
            vm_mem_mib=cfg.vm_mem_mib,
            vm_running_here=vm.running,
            start_retries=self.memory.retries(now, cfg.timeouts.restart_window),
        )
        result_score = self.score = score.compute(cfg.score, inputs)
        value, detail = result_score.value, result_score.explain()
        if not storage_ok:
            value, detail = 0, "0 (storage unavailable)"
        snapshot = Snapshot(
            now=now,
            host_id=cfg.host_id,
            score=value,
            score_detail=detail,
            priority=cfg.priority,
            vm=vm,
            vm_down_reason=reason,
            health=monitors.engine_health,
            global_maintenance=self._global_maintenance,
            local_maintenance=env.local_maintenance(),
            peers=peers,
            lease_owner=lease_owner,
            lease_known=lease_known,
            action_running=running,
            action_result=result,
            identity=identity,
            network=monitors.network,
            migrate_request=env.take_migrate_request(),
            storage_error=storage_error,
            monitors_ready=monitors_ready,
            lockspace_held=held,
        )
        return snapshot, monitors

    def tick(self) -> Decision | None:
        """One cycle. Nothing raised inside it ends the loop: a bug is logged once (with its
        traceback) and the cycle's sentence says so."""
        snapshot: Snapshot | None = None
        step = "refresh"
        started = self.env.now()
        try:
            snapshot, monitors = self.refresh()
            self.last_snapshot = snapshot
            step = "decide"
            decision = fsm.step(self.memory, snapshot, self.config.timeouts)
            step = "act"
            decision = self._act(decision, snapshot)
            step = "publish"
            self._publish(decision, snapshot, monitors)
        except Exception as e:
            signature = f"{step}: {type(e).__name__}: {e}"
            if signature != self._last_bug:
                logger.exception("bug in the agent's %s step", step)
                self._last_bug = signature
            sentence = BUG_SENTENCE.format(step=step)
            logger.info(sentence)
            if snapshot is not None and snapshot.migrate_request is not None:
                self._answer_migration(None, sentence)
            return None
        self._last_bug = ""
        self._log(decision)
        self._timed("cycle", started)
        self.last = decision
        if snapshot.migrate_request is not None:
            target = next((a.target for a in decision.actions if a.kind is ActionKind.MIGRATE_VM), None)
            self._answer_migration(target, decision.sentence)
        if self.listener is not None:
            try:
                self.listener(decision)
            except Exception:
                logger.exception("bug in the decision listener")
        return decision

    def _act(self, decision: Decision, snapshot: Snapshot) -> Decision:
        """Begin the decision's actions. One the env refuses (another action still runs, libvirt
        gone) was not done: it is withdrawn from the memory, so the state machine asks again, and
        the sentence says what happened instead of what was meant."""
        if decision.state is not self.memory.state:
            logger.info("state %s -> %s", self.memory.state.value, decision.state.value)
        memory, sentence, begun = decision.memory, decision.sentence, []
        for action in decision.actions:
            if action.kind is ActionKind.MIGRATE_VM and self.view is not None:
                slot = self.view.board.hosts.get(action.target or 0)
                action = replace(action, address=slot.hostname if slot else "")
            try:
                self.env.begin(action)
                begun.append(action)
                self._recovered(f"begin {action.kind.value}")
            except HostedEngineError as e:
                self._note(f"begin {action.kind.value}", f"could not begin {action.kind.value}: {e}")
                sentence = f"could not begin the Engine VM's {action.kind.value} ({e}); will ask again"
                memory = replace(memory, sent_actions=memory.sent_actions - {action.kind})
        self.memory = memory
        if len(begun) == len(decision.actions):
            return decision
        return replace(decision, memory=memory, sentence=sentence, steady=False, actions=tuple(begun))

    def _answer_migration(self, target: int | None, sentence: str) -> None:
        with self._answers:
            self._answer = MigrationAnswer(self._answer.number + 1, target, sentence)
            self._answers.notify_all()

    @property
    def migration_answers(self) -> int:
        """How many live-migration requests this agent has answered."""
        return self._answer.number

    def wait_migration_answer(self, after: int, timeout: float) -> MigrationAnswer | None:
        """The answer to the first request taken after `after` answers, None if none came in time."""
        with self._answers:
            self._answers.wait_for(lambda: self._answer.number > after, timeout)
            return self._answer if self._answer.number > after else None

    def ask_migration(self, target: int, timeout: float) -> tuple[MigrationAnswer | None, bool]:
        """The admin's live-migration request (any thread, one at a time): hand it to the loop and wait
        for the cycle's answer. No answer in time: the request is withdrawn unless the loop took it
        meanwhile; returns (None, withdrawn)."""
        with self._asking:
            answered = self.migration_answers
            self.env.request_migration(target)
            answer = self.wait_migration_answer(answered, timeout)
            if answer is not None:
                return answer, False
            return None, self.env.take_migrate_request() is not None

    def _publish(self, decision: Decision, snapshot: Snapshot, monitors: MonitorValues) -> None:
        cfg = self.config
        slot = HostSlot(
            host_id=cfg.host_id,
            timestamp=int(snapshot.now),
            score=decision.score,
            engine_status=engine_status(snapshot.vm, snapshot.vm_down_reason, monitors, decision.state),
            hostname=cfg.hostname,
            maintenance=snapshot.local_maintenance,
            stopped=decision.state is State.AGENT_STOPPED,
            local_conf_timestamp=int(snapshot.now),
            state=decision.state.value,
            extra=self._extra(monitors, snapshot, decision),
        )
        if not self.joined:
            return
        try:
            self.env.write_slot(slot)
            self._recovered("publish")
        except HostedEngineError as e:
            self._note("publish", f"cannot publish this host's slot: {e}")

    def _ages(self, board: Whiteboard, now: float) -> dict[int, float]:
        """Seconds since each peer's slot timestamp last changed, on this host's clock (the writers'
        clocks are not comparable). Slots first seen now are 0 s old."""
        for host_id, slot in board.hosts.items():
            seen = self._seen.get(host_id)
            if seen is None or seen[0] != slot.timestamp:
                self._seen[host_id] = (slot.timestamp, now)
        return {h: now - changed for h, (_, changed) in self._seen.items()}

    def _timed(self, what: str, started: float) -> None:
        if self.timing is not None:
            self.timing(what, self.env.now() - started)

    def _recovered(self, what: str) -> None:
        if self._failing.pop(what, None) is not None:
            logger.info("%s works again", what)

    def _extra(self, monitors: MonitorValues, snapshot: Snapshot, decision: Decision) -> dict[str, str]:
        """Our own whiteboard fields (key=value part): priority and free memory for the others, the
        domain and lease as this host reads them, and a live migration this host runs."""
        extra = {"priority": str(self.config.priority)}
        if monitors.mem_free_mib is not None:
            extra["mem_free_mib"] = str(monitors.mem_free_mib)
        if snapshot.identity:
            extra["identity"] = snapshot.identity
        if decision.state is State.ENGINE_MIGRATING_AWAY and decision.memory.migration_target is not None:
            extra["migrating_to"] = str(decision.memory.migration_target)
        return extra

    def _note(self, what: str, message: str) -> None:
        """Log a failure once (WARNING), not every tick; its recovery is implied by silence."""
        if self._failing.get(what) != message:
            logger.warning("%s", message)
            self._failing[what] = message

    def _log(self, decision: Decision) -> None:
        if decision.steady:
            return
        logger.info("%s", decision.sentence)

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Tick until `stop()`; woken early by `env.wake()` (VM events, verbs, hooks)."""
        logger.info("agent started for host id %d", self.config.host_id)
        while not self._stop.is_set():
            decision = self.tick()  # never raises
            if self.heartbeat is not None:
                self.heartbeat()
            wait = self.config.tick
            if decision is not None and decision.wake_after is not None:
                wait = min(wait, decision.wake_after)
            self.env.wait(wait)
        self._shutdown()

    def stop(self) -> None:
        self._stop.set()
        self.env.wake()

    def _shutdown(self) -> None:
        """Publish `stopped` with score 0, release the host id; a running Engine VM keeps running."""
        decision = fsm.stopped(self.memory, self.env.now())
        snapshot = self.last_snapshot
        if snapshot is not None:
            self._publish(decision, snapshot, self.env.monitors())
        try:
            self.env.leave_lockspace()
        except HostedEngineError as e:
            logger.warning("could not leave the lockspace: %s", e)
        logger.info("%s", decision.sentence)

    def status(self) -> dict[str, Any]:
        """Plain data for the verbs: state, score, sentence."""
        last = self.last
        return {
            "state": last.state.value if last else self.memory.state.value,
            "score": last.score if last else 0,
            "sentence": last.sentence if last else "",
        }
