"""The hosted-engine state machine (pure): `step(memory, snapshot, timeouts) -> Decision`.

States keep oVirt's names (an admin sees them in `--vm-status`); MEANING gives each a line. One clock
(the snapshot's monotonic `now`) times everything.

Guards, in this precedence, before any per-state logic:
  1. global maintenance      -> GlobalMaintenance: hands off, no action at all
  2. local VM state unknown  -> UnknownLocalVmState: no action until the runtime can tell
  3. the agent's own fence   -> EngineForceStop: the VM runs here but this host lost its host id
                                (sanlock should have killed it): powered off after `fence` seconds
  4. local maintenance       -> LocalMaintenance: score 0; a VM running here is shut down
  5. cluster not yet known   -> StartState: no start until sanlock says who is alive (no fixed wait)

Where we differ from oVirt's agent (REFERENCE.md):
  - a start refused because another host holds the lease (-243) is a lost race, not a failure: no
    retry penalty, no force-stop loop;
  - an Engine VM crash restarts the VM locally first (`local_restarts` within `restart_window`),
    then the host steps back (score 0 for `backoff`) so another host starts it;
  - an Engine that stays unhealthy is restarted after `health_timeout`; if it is unhealthy again
    after that restart, an alert is raised;
  - when the Engine's host is failing in sanlock, the others wait for sanlock to call it dead (its
    lease is free only then) and poll each second meanwhile, so the best host starts at once.

Every decision carries one sentence: past tense + "because" when something was done, "no action: "
+ what is awaited otherwise, "GLOBAL MAINTENANCE: " prefixed when HA is handed off.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field, replace

from vdsm_hosted_engine.errors import BugError
from vdsm_hosted_engine.ha import score as score_
from vdsm_hosted_engine.ha.placement import (
    NOT_HEALTHY,
    best_host,
    engine_elsewhere,
    migration_destination,
    mismatched,
    outvoted,
    peers,
)
from vdsm_hosted_engine.ha.snapshot import Action, ActionKind, Peer, Snapshot
from vdsm_hosted_engine.observations import INCOMING_FAILED, Health, VmStatus

logger = logging.getLogger(__name__)


class State(enum.Enum):
    START = "StartState"
    ENGINE_DOWN = "EngineDown"
    ENGINE_START = "EngineStart"
    ENGINE_STARTING = "EngineStarting"
    ENGINE_UP = "EngineUp"
    ENGINE_UP_BAD_HEALTH = "EngineUpBadHealth"
    ENGINE_STOP = "EngineStop"
    ENGINE_MIGRATING_AWAY = "EngineMigratingAway"
    ENGINE_FORCE_STOP = "EngineForceStop"
    ENGINE_UNEXPECTEDLY_DOWN = "EngineUnexpectedlyDown"
    GLOBAL_MAINTENANCE = "GlobalMaintenance"
    LOCAL_MAINTENANCE = "LocalMaintenance"
    UNKNOWN_LOCAL_VM_STATE = "UnknownLocalVmState"
    AGENT_STOPPED = "AgentStopped"


MEANING = {
    State.START: "the agent is starting and waits for sanlock to tell which hosts are alive",
    State.ENGINE_DOWN: "the Engine VM does not run here; this host starts it when it is the best place",
    State.ENGINE_START: "this host is starting the Engine VM",
    State.ENGINE_STARTING: "the Engine VM runs here and the Engine is not healthy yet",
    State.ENGINE_UP: "the Engine VM runs here and the Engine is healthy",
    State.ENGINE_UP_BAD_HEALTH: "the Engine VM runs here but the Engine's health check fails",
    State.ENGINE_STOP: "this host is shutting the Engine VM down",
    State.ENGINE_MIGRATING_AWAY: "this host is live-migrating the Engine VM to a better host",
    State.ENGINE_FORCE_STOP: "the shutdown took too long; this host is powering the Engine VM off",
    State.ENGINE_UNEXPECTEDLY_DOWN: "the Engine VM crashed here too often; this host steps back for a while",
    State.GLOBAL_MAINTENANCE: "global maintenance: no host acts on the Engine VM",
    State.LOCAL_MAINTENANCE: "local maintenance: this host takes no part (score 0)",
    State.UNKNOWN_LOCAL_VM_STATE: "the VM runtime cannot tell whether the Engine VM runs here",
    State.AGENT_STOPPED: "the agent on this host is stopped",
}

# Which states may follow which (besides staying put). The guards may enter GLOBAL_MAINTENANCE,
# UNKNOWN_LOCAL_VM_STATE, LOCAL_MAINTENANCE and START from anywhere.
_GUARDED = {State.GLOBAL_MAINTENANCE, State.UNKNOWN_LOCAL_VM_STATE, State.LOCAL_MAINTENANCE, State.START}
_RUNNING = {State.ENGINE_STARTING, State.ENGINE_UP, State.ENGINE_UP_BAD_HEALTH}
TRANSITIONS: dict[State, set[State]] = {
    State.START: {State.ENGINE_DOWN, *_RUNNING},
    State.ENGINE_DOWN: {State.ENGINE_START, *_RUNNING},
    State.ENGINE_START: {State.ENGINE_DOWN, State.ENGINE_STARTING},
    State.ENGINE_STARTING: {
        State.ENGINE_FORCE_STOP,
        State.ENGINE_MIGRATING_AWAY,
        State.ENGINE_UP,
        State.ENGINE_UP_BAD_HEALTH,
        State.ENGINE_STOP,
        State.ENGINE_START,
        State.ENGINE_DOWN,
        State.ENGINE_UNEXPECTEDLY_DOWN,
    },
    State.ENGINE_UP: {
        State.ENGINE_FORCE_STOP,
        State.ENGINE_MIGRATING_AWAY,
        State.ENGINE_UP_BAD_HEALTH,
        State.ENGINE_STOP,
        State.ENGINE_START,
        State.ENGINE_DOWN,
        State.ENGINE_UNEXPECTEDLY_DOWN,
    },
    State.ENGINE_UP_BAD_HEALTH: {
        State.ENGINE_FORCE_STOP,
        State.ENGINE_MIGRATING_AWAY,
        State.ENGINE_UP,
        State.ENGINE_STOP,
        State.ENGINE_START,
        State.ENGINE_DOWN,
        State.ENGINE_UNEXPECTEDLY_DOWN,
    },
    State.ENGINE_STOP: {State.ENGINE_DOWN, State.ENGINE_FORCE_STOP},
    State.ENGINE_MIGRATING_AWAY: {
        State.ENGINE_DOWN,
        State.ENGINE_STOP,
        State.ENGINE_START,
        State.ENGINE_UNEXPECTEDLY_DOWN,
        *_RUNNING,
    },
    State.ENGINE_FORCE_STOP: {State.ENGINE_DOWN},
    State.ENGINE_UNEXPECTEDLY_DOWN: {State.ENGINE_DOWN, *_RUNNING},
    State.GLOBAL_MAINTENANCE: {State.ENGINE_DOWN, *_RUNNING},
    State.LOCAL_MAINTENANCE: {State.ENGINE_DOWN, *_RUNNING},
    State.UNKNOWN_LOCAL_VM_STATE: {State.ENGINE_DOWN, *_RUNNING},
    State.AGENT_STOPPED: set(),
}
# Leaving a guard state: wherever the local VM puts us, like a fresh start.
for _s in _GUARDED:
    TRANSITIONS[_s] |= {State.ENGINE_DOWN, *_RUNNING}
for _s in TRANSITIONS:
    if _s is not State.AGENT_STOPPED:
        TRANSITIONS[_s] |= _GUARDED
# The fence: from wherever the VM may be seen running without this host's lockspace.
for _s in (*_GUARDED, *_RUNNING, State.ENGINE_START, State.ENGINE_STOP, State.ENGINE_MIGRATING_AWAY, State.ENGINE_DOWN):
    TRANSITIONS[_s] |= {State.ENGINE_FORCE_STOP}
TRANSITIONS[State.LOCAL_MAINTENANCE] |= {State.ENGINE_STOP, State.ENGINE_FORCE_STOP, State.ENGINE_MIGRATING_AWAY}

# Timers fire when this close to their deadline: clock arithmetic leaves residues like 1e-14 s, and a
# wake-up that small would not let time pass.
TIMER_SLACK = 1e-3

# States in which this host publishes score 0 whatever its monitors say.
# A host that cannot act (its VM runtime does not answer) must not keep the others deferring to it.
ZERO_SCORE_STATES = {
    State.START,
    State.LOCAL_MAINTENANCE,
    State.ENGINE_UNEXPECTEDLY_DOWN,
    State.AGENT_STOPPED,
    State.UNKNOWN_LOCAL_VM_STATE,
}


@dataclass(frozen=True)
class Timeouts:
    """All in seconds; oVirt's values where it has them."""

    health: float = 300.0  # Engine unhealthy this long -> restart it
    stop: float = 300.0  # shutdown unfinished this long -> power off
    starting: float = 600.0  # Engine not healthy this long after start -> stop
    restart_window: float = 600.0  # local crash restarts and start retries are counted in this window
    local_restarts: int = 2  # crash restarts here before stepping back
    backoff: float = 600.0  # score 0 after stepping back
    health_alert_window: float = 3600.0  # unhealthy again within this after a health restart -> alert
    dead_poll: float = 1.0  # poll interval while waiting for sanlock to call the Engine's host dead
    handover_hold: float = 20.0  # a better host must stay better this long before the Engine moves
    start: float = 300.0  # a VM start still unfinished this long is given up (counted as a failure)
    migration: float = 120.0  # a live migration still unfinished this long is aborted (the VM stays here)
    abort_grace: float = 30.0  # an abort that changed nothing this long after: the migration is given up
    forming: float = 30.0  # a peer still in StartState this long no longer holds back a start
    destroy_retry: float = 10.0  # first delay before a failed power-off is tried again (doubles each time)
    destroy_retry_max: float = 60.0  # ... up to this
    paused: float = 30.0  # an Engine VM paused this long (it released its lease) is powered off
    monitors: float = 30.0  # after the agent starts, wait this long at most for the monitors' first values
    fence: float = 15.0  # the VM still runs here this long after this host lost its host id: power it off
    peer_fresh: float = 10.0  # a handover target's slot must have changed within this (its agent works)


@dataclass(frozen=True)
class Memory:
    """What the machine remembers between ticks (a plain value; the agent keeps it)."""

    state: State = State.START
    since: float = 0.0
    start_failures: tuple[float, ...] = ()
    crash_restarts: tuple[float, ...] = ()
    backoff_until: float = 0.0
    bad_health_since: float | None = None
    health_restarts: tuple[float, ...] = ()
    stop_reason: str = ""
    sent_actions: frozenset[ActionKind] = field(default_factory=frozenset)
    topic: str = ""  # what a "no action" decision waits for; steady = same state and topic again
    better_since: float | None = None  # when a clearly better host was first seen (handover hold-down)
    migration_target: int | None = None  # EngineMigratingAway: the destination
    migration_why: str = ""  # EngineMigratingAway: "degraded", "local maintenance" or "requested"
    forming_seen: tuple[tuple[int, float], ...] = ()  # peers in StartState and since when (EngineDown)
    destroy_failures: int = 0  # EngineForceStop: failed power-offs so far
    retry_at: float = 0.0  # EngineForceStop: when to try the power-off again
    paused_since: float | None = None  # the Engine VM here was first seen paused
    unleased_since: float | None = None  # the VM was first seen running here without its lease
    leased_here: bool = False  # the VM running here was seen holding its lease (its lease can be lost)

    def retries(self, now: float, window: float) -> int:
        return sum(1 for t in self.start_failures if now - t < window)


@dataclass(frozen=True)
class Decision:
    state: State
    actions: tuple[Action, ...]
    sentence: str
    steady: bool
    wake_after: float | None
    memory: Memory
    score: int


class IllegalTransition(BugError):
    """The state machine tried a transition its table does not allow."""

    code = 9998

    def __init__(self, old: State, new: State) -> None:
        super().__init__(f"illegal transition {old.value} -> {new.value}")
        self.old, self.new = old, new


# -- helpers -------------------------------------------------------------------------------------


def _within(times: tuple[float, ...], now: float, window: float) -> tuple[float, ...]:
    return tuple(t for t in times if now - t < window)


# -- the step ------------------------------------------------------------------------------------


class _Step:
    """One evaluation: collects the new state, actions and sentence."""

    def __init__(self, memory: Memory, snap: Snapshot, timeouts: Timeouts) -> None:
        self.old = memory
        self.memory = memory
        self.snap = snap
        self.t = timeouts
        self.actions: list[Action] = []
        self.wake_after: float | None = None
        self.topic = ""

    @property
    def now(self) -> float:
        return self.snap.now

    def go(self, state: State, **changes: object) -> None:
        if state is not self.memory.state:
            if state not in TRANSITIONS[self.memory.state]:
                raise IllegalTransition(self.memory.state, state)
            changes.setdefault("since", self.now)
            changes.setdefault("sent_actions", frozenset())
            changes.setdefault("forming_seen", ())  # seen anew from the next EngineDown on
        self.memory = replace(self.memory, state=state, **changes)

    def act(self, kind: ActionKind, detail: str = "", target: int | None = None) -> None:
        """Ask for an action once per state entry (a repeat while it runs would be a second start)."""
        if kind in self.memory.sent_actions:
            return
        self.actions.append(Action(kind, detail, target))
        self.memory = replace(self.memory, sent_actions=self.memory.sent_actions | {kind})

    def elapsed(self) -> float:
        return self.now - self.memory.since


def step(memory: Memory, snap: Snapshot, timeouts: Timeouts = Timeouts()) -> Decision:
    """Decide this tick. Pure: the same memory and snapshot always give the same decision."""
    s = _Step(memory, snap, timeouts)
    sentence = _guards(s) or _per_state(s)
    published = 0 if s.memory.state in ZERO_SCORE_STATES or snap.local_maintenance else snap.score
    if not snap.lease_known and not snap.vm.running:
        published = 0  # it could not start the Engine VM blind: the others must not wait for it
    if s.memory.state is State.ENGINE_DOWN and snap.now < s.memory.backoff_until:
        published = 0
    if snap.global_maintenance:
        sentence = f"GLOBAL MAINTENANCE: {sentence}"
    steady = not s.actions and s.memory.state is memory.state and s.topic == memory.topic
    new_memory = replace(s.memory, topic=s.topic)
    return Decision(s.memory.state, tuple(s.actions), sentence, steady, s.wake_after, new_memory, published)


def _guards(s: _Step) -> str | None:
    snap = s.snap
    if snap.global_maintenance:
        if s.memory.state is not State.GLOBAL_MAINTENANCE:
            s.go(State.GLOBAL_MAINTENANCE)
        where = "runs on this host" if snap.vm.running else "does not run on this host"
        s.topic = f"vm-{snap.vm.running}"  # the VM starting or dying here is news, even in maintenance
        return f"no action: HA is handed off; the Engine VM {where}"
    if snap.vm is VmStatus.UNKNOWN:
        s.go(State.UNKNOWN_LOCAL_VM_STATE)
        return "no action: cannot tell whether the Engine VM runs on this host (VM runtime not answering)"
    fenced = _fence(s)
    if fenced:
        return fenced
    if snap.local_maintenance:
        return _local_maintenance(s)
    if snap.peers is None:
        s.go(State.START)
        if snap.storage_error:
            return f"no action: storage unavailable ({snap.storage_error}); waiting for it"
        return "no action: waiting for sanlock to report which hosts are alive"
    if not snap.monitors_ready:
        s.go(State.START)
        return "no action: waiting for the monitors' first values (no value is not a bad value)"
    if s.memory.state in _GUARDED:
        _reenter(s)
    return None


def _fence(s: _Step) -> str | None:
    """Defence in depth: a VM running here that lost its lease (this host lost its host id, or the
    lease's record, once naming this host, now names another owner or a generation this host no
    longer has) should have been killed by sanlock. The agent powers it off itself if it is still so
    after `fence` seconds. Only a sure answer counts: sanlock not answering, a join under way or an
    unreadable lease neither starts nor stops the timer; the destination of a live migration (a peer
    announces it) is left alone."""
    snap = s.snap
    incoming = any(p.live and p.migrating_to == snap.host_id for p in peers(snap).values())
    known = snap.peers is not None and snap.lease_known
    leased = snap.lockspace_held is True and known and snap.lease_owner == snap.host_id
    unleased = snap.lockspace_held is False or (
        s.memory.leased_here and snap.lockspace_held is True and known and snap.lease_owner != snap.host_id
    )
    if snap.vm.running != s.memory.leased_here and (leased or not snap.vm.running):
        s.memory = replace(s.memory, leased_here=snap.vm.running)
    if not snap.vm.running or incoming or leased:
        if s.memory.unleased_since is not None:
            s.memory = replace(s.memory, unleased_since=None)
        return None
    if not unleased and s.memory.unleased_since is None:
        return None
    if s.memory.state is State.ENGINE_FORCE_STOP:
        return _force_stop(s)
    since = s.memory.unleased_since if s.memory.unleased_since is not None else s.now
    s.memory = replace(s.memory, unleased_since=since)
    left = s.t.fence - (s.now - since)
    why = "lost its sanlock host id" if snap.lockspace_held is False else "does not hold the Engine VM lease"
    if left > TIMER_SLACK:
        s.topic = "unleased"
        s.wake_after = left
        return f"no action: the Engine VM runs here but this host {why}; powering it off in {left:.0f} s"
    return _power_off(s, "no lease", f"it ran on without its lease ({why})")


def _reenter(s: _Step) -> None:
    """Leaving a guard state (or starting): the local VM decides where we are."""
    vm, health = s.snap.vm, s.snap.health
    if vm.running:
        s.go(State.ENGINE_UP if health is Health.GOOD else State.ENGINE_STARTING)
    else:
        s.go(State.ENGINE_DOWN)


def _local_maintenance(s: _Step) -> str:
    state = s.memory.state
    if state is State.ENGINE_MIGRATING_AWAY:
        return _migrating_away(s)
    if not s.snap.vm.running:
        if state is not State.LOCAL_MAINTENANCE:
            s.go(State.LOCAL_MAINTENANCE)
        return "no action: this host is in local maintenance"
    if state is State.ENGINE_FORCE_STOP:
        return _force_stop(s)
    if state is State.ENGINE_STOP:
        if s.elapsed() >= s.t.stop:
            return _power_off(s, "local maintenance", f"its shutdown did not finish in {s.t.stop:.0f} s")
        resent = _resend_shutdown(s)
        return resent or (
            f"no action: Engine VM shutting down for local maintenance, powering off in {s.t.stop - s.elapsed():.0f} s"
        )
    s.go(State.LOCAL_MAINTENANCE)
    target, why_not = migration_destination(s.snap, _working(s))
    if target is not None:
        return _migrate(s, target, "local maintenance", "this host entered local maintenance")
    s.go(State.ENGINE_STOP, stop_reason="local maintenance")
    s.act(ActionKind.SHUTDOWN_VM, "local maintenance")
    return f"shut down the Engine VM because this host entered local maintenance (no live migration: {why_not})"


def _migrate(s: _Step, target: Peer, why: str, because: str) -> str:
    s.go(
        State.ENGINE_MIGRATING_AWAY,
        migration_target=target.host_id,
        migration_why=why,
        better_since=None,
        bad_health_since=None,
    )
    s.act(ActionKind.MIGRATE_VM, why, target=target.host_id)
    return f"live-migrating the Engine VM to host {target.host_id} (score {target.score}) because {because}"


def _migrating_away(s: _Step) -> str:
    """Wait for the live migration; on failure fall back to stop + restart elsewhere (or, when the
    admin asked for it, keep the VM here)."""
    snap = s.snap
    target, why = s.memory.migration_target, s.memory.migration_why
    result = snap.action_result if snap.action_result and snap.action_result.kind is ActionKind.MIGRATE_VM else None
    if (result is not None and result.ok) or (not snap.vm.running and snap.vm_down_reason == "migrated"):
        if snap.vm.running:
            s.topic = "migrated"
            return f"no action: live migration to host {target} done; waiting for the Engine VM to leave this host"
        done = State.LOCAL_MAINTENANCE if snap.local_maintenance else State.ENGINE_DOWN
        s.go(done, migration_target=None, migration_why="")
        return f"no action: the Engine VM live-migrated to host {target} ({why})"
    if not snap.vm.running:  # gone, but not migrated: it crashed or was killed meanwhile
        s.memory = replace(s.memory, migration_target=None, migration_why="")
        return _vm_lost(s)
    if result is not None:
        return _migration_failed(s, result.error or "failed")
    if ActionKind.MIGRATE_VM not in s.memory.sent_actions and snap.action_running is not ActionKind.MIGRATE_VM:
        # The host refused to begin it (another action still ran): nothing was tried, so nothing
        # failed; back to where the VM puts us, and the next ticks decide again.
        s.memory = replace(s.memory, migration_target=None, migration_why="")
        _reenter(s)
        return f"no action: the live migration to host {target} could not begin; deciding again"
    s.topic = f"migrating:{target}"
    if s.elapsed() >= s.t.migration - TIMER_SLACK:
        if ActionKind.ABORT_MIGRATION in s.memory.sent_actions:
            if s.elapsed() >= s.t.migration + s.t.abort_grace - TIMER_SLACK:
                return _migration_failed(s, f"still unfinished {s.t.abort_grace:.0f} s after it was aborted")
            s.wake_after = s.t.migration + s.t.abort_grace - s.elapsed()
            return f"no action: waiting for the aborted live migration to host {target} to end"
        s.act(ActionKind.ABORT_MIGRATION, f"unfinished after {s.t.migration:.0f} s")
        s.wake_after = s.t.abort_grace
        return f"aborting the live migration to host {target}: unfinished after {s.t.migration:.0f} s"
    s.wake_after = s.t.migration - s.elapsed()
    return f"no action: live-migrating the Engine VM to host {target} ({s.elapsed():.0f} s)"


def _migration_failed(s: _Step, error: str) -> str:
    """The VM stays here: keep it (the admin's request) or fall back to stop + restart elsewhere."""
    target, why = s.memory.migration_target, s.memory.migration_why
    if why == "requested":
        s.memory = replace(s.memory, migration_target=None, migration_why="")
        _reenter(s)
        return f"no action: live migration to host {target} failed ({error}); the Engine VM stays on this host"
    s.go(State.ENGINE_STOP, stop_reason=f"{why}; live migration failed", migration_target=None, migration_why="")
    s.act(ActionKind.SHUTDOWN_VM, f"{why}; live migration to host {target} failed")
    return (
        f"shut down the Engine VM because live migration to host {target} failed ({error}) "
        f"and this host should not keep it ({why}); a better host restarts it"
    )


def _per_state(s: _Step) -> str:
    handler = {
        State.ENGINE_DOWN: _engine_down,
        State.ENGINE_START: _engine_start,
        State.ENGINE_STARTING: _engine_running,
        State.ENGINE_UP: _engine_running,
        State.ENGINE_UP_BAD_HEALTH: _engine_running,
        State.ENGINE_STOP: _engine_stop,
        State.ENGINE_FORCE_STOP: _engine_stop,
        State.ENGINE_MIGRATING_AWAY: _migrating_away,
        State.ENGINE_UNEXPECTEDLY_DOWN: _unexpectedly_down,
    }.get(s.memory.state)
    if handler is None:
        raise BugError(f"no handler for state {s.memory.state.value}")
    return handler(s)


def _engine_down(s: _Step) -> str:
    snap = s.snap
    if snap.vm.running:
        _reenter(s)
        return f"no action: found the Engine VM running on this host; now {s.memory.state.value}"
    where, host, detail = engine_elsewhere(snap)
    s.topic = f"{where}:{host}"
    if where == "up":
        peer = peers(snap).get(host or 0)
        theirs = f" (score {peer.score})" if peer else ""
        return f"no action: engine up on host {host}{theirs}, I am host {snap.host_id} (score {snap.score})"
    if where == "failing":
        s.wake_after = s.t.dead_poll
        return f"no action: {detail}; waiting for sanlock to declare it dead before its lease is free"
    if where == "unknown":
        return f"no action: {detail}; not starting the Engine VM blind"
    if snap.now < s.memory.backoff_until and best_host(snap, 0) is not None:
        # Another host can try; with none, stepping back would only keep the Engine down.
        s.topic = "backoff"
        return (
            f"no action: stepped back after the Engine VM failed here, {s.memory.backoff_until - snap.now:.0f} s left"
        )
    my_score = snap.score
    forming = _forming(s)
    if forming:
        # Their published score (0) is not their real one yet: ranking now could make two hosts
        # each think they are best. One tick later every live host has published its real score;
        # one that stays in StartState (it cannot read the whiteboard) holds nobody back for long.
        s.topic = "forming"
        left = max(s.t.forming - (s.now - since) for _, since in forming)
        s.wake_after = left
        hosts = ", ".join(str(h) for h, _ in forming)
        return f"no action: waiting for host(s) {hosts} to publish their score (at most {left:.0f} s more)"
    if my_score <= 0:
        s.topic = "score0"
        return f"no action: Engine VM down and this host cannot run it (score 0: {snap.score_detail or 'monitors'})"
    odd = outvoted(snap)
    if odd:
        s.topic = "outvoted"
        s.act(ActionKind.ALERT, f"this host reads another storage domain or Engine VM lease than host(s) {odd}")
        return (
            f"no action: Engine VM down, but host(s) {', '.join(map(str, odd))} read another storage domain or "
            f"Engine VM lease than this host ({snap.identity}): not starting it from here"
        )
    best = best_host(snap, my_score)
    if best != snap.host_id:
        s.topic = f"better:{best}"
        peer = peers(snap).get(best)
        if peer is not None:
            return (
                f"no action: Engine VM down; host {best} is better placed (score {peer.score}, priority "
                f"{peer.priority}; mine {my_score}, priority {snap.priority})"
            )
        return "no action: Engine VM down and no host is eligible to start it"
    s.go(State.ENGINE_START)
    s.act(ActionKind.START_VM)
    return f"started Engine VM because this host has the best score ({my_score}) and no host runs it"


def _forming(s: _Step) -> list[tuple[int, float]]:
    """Live peers in StartState that may still hold back a start: seen so for less than
    `forming`. Remembers since when each was seen so."""
    seen = dict(s.memory.forming_seen)
    now_forming = {
        p.host_id: seen.get(p.host_id, s.now) for p in peers(s.snap).values() if p.live and p.state == State.START.value
    }
    s.memory = replace(s.memory, forming_seen=tuple(sorted(now_forming.items())))
    return [(h, since) for h, since in sorted(now_forming.items()) if s.now - since < s.t.forming - TIMER_SLACK]


def _engine_start(s: _Step) -> str:
    snap = s.snap
    result = snap.action_result
    if result is None or result.kind is not ActionKind.START_VM:
        if snap.action_running is ActionKind.START_VM or ActionKind.START_VM in s.memory.sent_actions:
            if s.elapsed() >= s.t.start:
                # A start that never returns (libvirt hung) must not hold the cluster: peers defer to
                # this host while it says EngineStart. Counted as a failure, its score decays.
                failures = (*_within(s.memory.start_failures, s.now, s.t.restart_window), s.now)
                s.go(State.ENGINE_DOWN, start_failures=failures)
                return (
                    f"no action: gave up on an Engine VM start unfinished after {s.t.start:.0f} s "
                    "(counted as a failure)"
                )
            return f"no action: Engine VM start in progress ({s.elapsed():.0f} s)"
        s.go(State.ENGINE_DOWN)
        return "no action: Engine VM start was not running; back to EngineDown"
    if result.ok:
        s.go(State.ENGINE_STARTING, start_failures=())
        return "no action: Engine VM started on this host; waiting for the Engine to become healthy"
    if result.lease_held_elsewhere:
        s.go(State.ENGINE_DOWN)
        owner = f"host {snap.lease_owner}" if snap.lease_owner else "another host"
        return f"no action: lost the race for the Engine VM lease to {owner}; not counted as a failure"
    failures = (*_within(s.memory.start_failures, s.now, s.t.restart_window), s.now)
    s.go(State.ENGINE_DOWN, start_failures=failures)
    return (
        f"no action: Engine VM start failed ({result.error}); {len(failures)} failure(s) in {s.t.restart_window:.0f} s"
    )


def _vm_lost(s: _Step) -> str:
    """The Engine VM vanished from this host while we ran it."""
    snap = s.snap
    if snap.vm_down_reason == INCOMING_FAILED:
        s.go(State.ENGINE_DOWN)
        return "no action: an incoming live migration ended without the Engine VM (it never ran here: no crash)"
    where, host, _ = engine_elsewhere(snap)
    if snap.vm_down_reason == "migrated" or where == "up":
        s.go(State.ENGINE_DOWN)
        return f"no action: Engine VM left this host ({snap.vm_down_reason or 'gone'}); engine up on host {host}"
    reason = snap.vm_down_reason or "crashed"
    restarts = _within(s.memory.crash_restarts, s.now, s.t.restart_window)
    if snap.score <= 0 and not restarts:
        # Nothing was tried here, so nothing failed here: no back-off (once healed, it may start it).
        s.go(State.ENGINE_DOWN)
        return (
            f"no action: the Engine VM went down unexpectedly ({reason}); this host cannot run it "
            f"(score 0: {snap.score_detail or 'monitors'}), another host restarts it"
        )
    if snap.score > 0 and len(restarts) < s.t.local_restarts:
        s.go(State.ENGINE_START, crash_restarts=(*restarts, s.now))
        s.act(ActionKind.START_VM, "local restart")
        return (
            f"restarted Engine VM locally because it went down unexpectedly ({reason}); "
            f"local restart {len(restarts) + 1} of {s.t.local_restarts}"
        )
    s.go(State.ENGINE_UNEXPECTEDLY_DOWN, crash_restarts=restarts, backoff_until=s.now + s.t.backoff)
    why = "this host cannot run it (score 0)" if snap.score <= 0 else f"{len(restarts)} local restart(s) already"
    return f"stepped back for {s.t.backoff:.0f} s because the Engine VM went down unexpectedly ({reason}) and {why}"


def _engine_running(s: _Step) -> str:
    snap = s.snap
    state = s.memory.state
    if not snap.vm.running:
        return _vm_lost(s)
    if snap.vm is VmStatus.PAUSED:
        return _paused(s)
    if s.memory.paused_since is not None:
        s.memory = replace(s.memory, paused_since=None)
    if snap.migrate_request is not None and snap.vm is VmStatus.UP:
        wanted = snap.migrate_request
        candidates = [p for p in _working(s) if wanted in (0, p.host_id)]
        target, why_not = migration_destination(snap, candidates)
        if target is not None:
            return _migrate(s, target, "requested", "the administrator asked for it")
        s.topic = "migration-refused"
        to = f"to host {wanted} " if wanted else ""
        return f"no action: live migration {to}refused: {why_not}"
    # Hand over to a clearly better host (score gap >= threshold; priority never moves a running Engine),
    # never to one that reads another domain or lease.
    better = [p for p in _working(s) if p.score >= snap.score + score_.RESTART_THRESHOLD and not mismatched(snap, p)]
    if better and snap.vm is VmStatus.UP:
        best = max(better, key=lambda p: score_.rank(p.score, p.priority, p.host_id))
        since = s.memory.better_since if s.memory.better_since is not None else s.now
        held = s.now - since
        if held < s.t.handover_hold - TIMER_SLACK:
            # Peers publish once a tick: a drop of my own score may just be seen before theirs
            # (every host losing the network at once). Only a gap that lasts moves the Engine.
            s.go(state, better_since=since)
            s.topic = f"better:{best.host_id}"
            s.wake_after = s.t.handover_hold - held
            return (
                f"no action: host {best.host_id} scores {best.score}, {best.score - snap.score} above this host "
                f"({snap.score_detail or snap.score}); handing over in {s.t.handover_hold - held:.0f} s if it lasts"
            )
        gap = f"scores {best.score}, {best.score - snap.score} above this host ({snap.score_detail or snap.score})"
        target, why_not = migration_destination(snap, better)
        if target is not None:
            return _migrate(s, target, "degraded", f"host {best.host_id} {gap}")
        if why_not != NOT_HEALTHY:
            s.go(State.ENGINE_STOP, stop_reason=f"handing over to host {best.host_id}", better_since=None)
            s.act(ActionKind.SHUTDOWN_VM, f"host {best.host_id} is better placed")
            return f"shut down the Engine VM because host {best.host_id} {gap} (no live migration: {why_not})"
        # Not healthy at this moment (a loaded host's probe may time out): a restart is no hand-over.
        # The live migration waits for the Engine to answer again (the hold stays served); an Engine
        # that stays unhealthy is the bad-health timer's to judge, below.
    elif s.memory.better_since is not None:
        s.go(state, better_since=None)
    odd = [
        p.host_id
        for p in peers(snap).values()
        if p.eligible and p.score >= snap.score + score_.RESTART_THRESHOLD and mismatched(snap, p)
    ]
    if odd and snap.health is Health.GOOD:
        s.topic = f"odd:{odd}"
        s.act(ActionKind.ALERT, f"host(s) {odd} read another storage domain or Engine VM lease than this host")
        return (
            f"no action: host(s) {', '.join(map(str, odd))} score better but read another storage domain or "
            f"Engine VM lease than this host ({snap.identity}): not handing the Engine VM to them"
        )
    if snap.health is Health.GOOD:
        s.topic = "healthy"
        if state is not State.ENGINE_UP:
            s.go(State.ENGINE_UP, bad_health_since=None, start_failures=())
            return "no action: the Engine is healthy on this host"
        return f"no action: Engine VM up and healthy on this host (score {snap.score})"
    if state is State.ENGINE_STARTING:
        s.topic = "starting"
        left = s.t.starting - s.elapsed()
        if left <= 0:
            return _health_restart(s, f"the Engine did not become healthy in {s.t.starting:.0f} s")
        return f"no action: waiting for the Engine to become healthy ({s.elapsed():.0f} s), stopping in {left:.0f} s"
    # EngineUp with bad health, or EngineUpBadHealth.
    since = s.memory.bad_health_since if s.memory.bad_health_since is not None else s.now
    if state is State.ENGINE_UP:
        s.go(State.ENGINE_UP_BAD_HEALTH, bad_health_since=since)
    bad_for = s.now - since
    s.topic = "bad-health"
    if bad_for < s.t.health:
        return f"no action: Engine health bad for {bad_for:.0f} s, stopping the VM in {s.t.health - bad_for:.0f} s"
    return _health_restart(s, f"the Engine has been unhealthy for {bad_for:.0f} s")


def _working(s: _Step) -> list[Peer]:
    """Eligible peers whose agent works now: their slot changed within `peer_fresh`. Only such a
    host may receive the Engine VM (a hung agent's slot stays `fresh` for `stale_after`)."""
    return [p for p in peers(s.snap).values() if p.eligible and p.age <= s.t.peer_fresh]


def _paused(s: _Step) -> str:
    """libvirt released the lease of the paused VM: it must not stay paused for long."""
    since = s.memory.paused_since if s.memory.paused_since is not None else s.now
    paused_for = s.now - since
    if paused_for >= s.t.paused - TIMER_SLACK:
        return _power_off(s, "paused", f"it has been paused for {paused_for:.0f} s (its lease released)")
    s.memory = replace(s.memory, paused_since=since)
    s.topic = "paused"
    s.wake_after = s.t.paused - paused_for
    return (
        f"no action: the Engine VM is paused (its lease released), powering it off in {s.t.paused - paused_for:.0f} s"
    )


def _health_restart(s: _Step, why: str) -> str:
    """Stop an unhealthy Engine so it is started afresh; alert when a restart already did not help."""
    recent = _within(s.memory.health_restarts, s.now, s.t.health_alert_window)
    if not recent:
        s.go(State.ENGINE_STOP, stop_reason="Engine unhealthy", health_restarts=(s.now,), bad_health_since=None)
        s.act(ActionKind.SHUTDOWN_VM, "Engine unhealthy")
        return f"shut down the Engine VM because {why}"
    # A restart here did not help: step back so another host tries; alert once per window.
    s.go(
        State.ENGINE_STOP,
        stop_reason="Engine unhealthy",
        health_restarts=(*recent, s.now),
        bad_health_since=None,
        backoff_until=s.now + s.t.backoff,
    )
    s.act(ActionKind.SHUTDOWN_VM, "Engine unhealthy")
    if len(recent) == 1:
        s.act(ActionKind.ALERT, f"the Engine is still unhealthy after a restart on this host: {why}")
        return (
            f"shut down the Engine VM and raised an alert because {why}, again after a restart here; "
            f"stepping back for {s.t.backoff:.0f} s so another host tries"
        )
    return (
        f"shut down the Engine VM because {why}, again after {len(recent)} restart(s) here; "
        f"stepping back for {s.t.backoff:.0f} s so another host tries"
    )


def _engine_stop(s: _Step) -> str:
    snap = s.snap
    if not snap.vm.running:
        reason = s.memory.stop_reason
        s.go(State.ENGINE_DOWN, stop_reason="")
        return f"no action: Engine VM is down on this host ({reason or 'stopped'})"
    if s.memory.state is State.ENGINE_FORCE_STOP:
        return _force_stop(s)
    left = s.t.stop - s.elapsed()
    if left <= 0:
        return _power_off(s, s.memory.stop_reason, f"its shutdown did not finish in {s.t.stop:.0f} s")
    resent = _resend_shutdown(s)
    return resent or f"no action: Engine VM shutting down ({s.memory.stop_reason}), powering off in {left:.0f} s"


def _resend_shutdown(s: _Step) -> str | None:
    """A shutdown request that could not begin (another action still ran) is asked again."""
    if ActionKind.SHUTDOWN_VM in s.memory.sent_actions or s.snap.action_running is not None:
        return None
    s.act(ActionKind.SHUTDOWN_VM, s.memory.stop_reason)
    return f"asked the Engine VM to shut down again because the first request could not begin ({s.memory.stop_reason})"


def _power_off(s: _Step, why: str, because: str) -> str:
    s.go(State.ENGINE_FORCE_STOP, stop_reason=why, destroy_failures=0, retry_at=0.0)
    s.act(ActionKind.DESTROY_VM, why)
    return f"powered off the Engine VM because {because}"


def _force_stop(s: _Step) -> str:
    """Power-off sent: wait for it; a failed one is tried again with back-off and raises one alert."""
    snap = s.snap
    result = snap.action_result if snap.action_result and snap.action_result.kind is ActionKind.DESTROY_VM else None
    if result is not None and not result.ok:
        failures = s.memory.destroy_failures + 1
        delay = min(s.t.destroy_retry * 2 ** (failures - 1), s.t.destroy_retry_max)
        s.memory = replace(
            s.memory,
            destroy_failures=failures,
            retry_at=s.now + delay,
            sent_actions=s.memory.sent_actions - {ActionKind.DESTROY_VM},
        )
        s.act(ActionKind.ALERT, f"cannot power off the Engine VM: {result.error or 'failed'}")
        s.topic = f"destroy-failed:{failures}"
        s.wake_after = delay
        return f"no action: powering off the Engine VM failed ({result.error or 'failed'}); retrying in {delay:.0f} s"
    if ActionKind.DESTROY_VM not in s.memory.sent_actions and snap.action_running is None:
        left = s.memory.retry_at - s.now
        if left > TIMER_SLACK:
            s.topic = "destroy-retry"
            s.wake_after = left
            return f"no action: powering off the Engine VM failed; retrying in {left:.0f} s"
        s.act(ActionKind.DESTROY_VM, s.memory.stop_reason)
        attempt = s.memory.destroy_failures + 1
        return f"powered off the Engine VM again because the last attempt failed (attempt {attempt})"
    s.topic = "destroying"
    return "no action: powering off the Engine VM"


def _unexpectedly_down(s: _Step) -> str:
    snap = s.snap
    if snap.vm.running:
        _reenter(s)
        return f"no action: found the Engine VM running on this host; now {s.memory.state.value}"
    left = s.memory.backoff_until - snap.now
    if left > 0:
        return f"no action: stepped back after the Engine VM went down unexpectedly here, {left:.0f} s left"
    s.go(State.ENGINE_DOWN)
    return "no action: back-off over; this host may start the Engine VM again"


def stopped(memory: Memory, now: float) -> Decision:
    """The decision published when the agent stops cleanly (score 0, stopped)."""
    new = replace(memory, state=State.AGENT_STOPPED, since=now)
    return Decision(State.AGENT_STOPPED, (), "agent stopped; the Engine VM is left as it is", False, None, new, 0)
