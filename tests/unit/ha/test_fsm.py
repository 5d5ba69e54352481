"""The state machine: every transition, the guards' precedence, oVirt's defects fixed.

Builders are named for situations; each test is Given (memory, snapshot) / When step / Then."""

from dataclasses import replace

import pytest

from vdsm_hosted_engine.ha import fsm
from vdsm_hosted_engine.ha.fsm import Memory, State, Timeouts
from vdsm_hosted_engine.ha.snapshot import ActionKind, ActionResult, Peer, Snapshot
from vdsm_hosted_engine.observations import Health, VmStatus
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness

T = Timeouts()


def peer(host_id, score=3400, liveness=Liveness.LIVE, vm="down", **kw):
    return Peer(host_id=host_id, score=score, liveness=liveness, engine_vm=vm, **kw)


def snap(now=100.0, vm=VmStatus.DOWN, health=Health.UNKNOWN, score=3400, peers=None, **kw):
    if vm.running:
        kw.setdefault("lease_owner", 1)  # a VM running here holds its lease
    return Snapshot(
        now=now, host_id=1, score=score, vm=vm, health=health, peers={p.host_id: p for p in (peers or [])}, **kw
    )


def mem(state, since=0.0, **kw):
    return Memory(state=state, since=since, **kw)


def engine_on_other_host(host_id=2, **kw):
    return snap(peers=[peer(host_id, vm="up", state="EngineUp")], lease_owner=host_id, **kw)


def engine_up_here(**kw):
    return snap(vm=VmStatus.UP, health=Health.GOOD, lease_owner=1, **kw)


def decide(memory, snapshot, timeouts=T):
    return fsm.step(memory, snapshot, timeouts)


# -- the transition table ------------------------------------------------------------------------


def test_every_state_has_a_meaning_and_a_row():
    assert set(fsm.MEANING) == set(State) == set(fsm.TRANSITIONS)


def test_illegal_transition_raises_and_leaves_memory_unchanged():
    s = fsm._Step(mem(State.ENGINE_STOP), snap(), T)
    with pytest.raises(fsm.IllegalTransition, match="EngineStop -> EngineStart"):
        s.go(State.ENGINE_START)
    assert s.memory.state is State.ENGINE_STOP


# -- start-up and guards -------------------------------------------------------------------------


def test_no_start_before_sanlock_knows_the_cluster():
    d = decide(Memory(), Snapshot(now=1, host_id=1, score=3400, vm=VmStatus.DOWN, peers=None))
    assert (d.state, d.actions, d.score) == (State.START, (), 0)
    assert d.sentence == "no action: waiting for sanlock to report which hosts are alive"


@pytest.mark.parametrize(
    "snapshot, state",
    [
        (engine_on_other_host(), State.ENGINE_DOWN),
        (snap(), State.ENGINE_START),
        (snap(vm=VmStatus.UP, health=Health.GOOD), State.ENGINE_UP),
        (snap(vm=VmStatus.UP, health=Health.BAD), State.ENGINE_STARTING),
        (snap(vm=VmStatus.POWERING_UP), State.ENGINE_STARTING),
    ],
)
def test_restarted_agent_finds_where_it_is_and_leaves_a_running_vm_alone(snapshot, state):
    d = decide(Memory(), snapshot)
    assert d.state is state
    assert ActionKind.SHUTDOWN_VM not in [a.kind for a in d.actions]
    assert ActionKind.DESTROY_VM not in [a.kind for a in d.actions]


def test_global_maintenance_hands_off_everything():
    for memory in (mem(State.ENGINE_DOWN), mem(State.ENGINE_UP), mem(State.ENGINE_UP_BAD_HEALTH, bad_health_since=0)):
        d = decide(memory, snap(now=10_000, global_maintenance=True, vm=VmStatus.UP, health=Health.BAD))
        assert (d.state, d.actions) == (State.GLOBAL_MAINTENANCE, ())
        assert d.sentence == "GLOBAL MAINTENANCE: no action: HA is handed off; the Engine VM runs on this host"
        assert not d.steady  # entering global maintenance is news


def test_global_maintenance_wins_over_local_maintenance_and_unknown_vm():
    d = decide(mem(State.ENGINE_UP), snap(global_maintenance=True, local_maintenance=True, vm=VmStatus.UNKNOWN))
    assert d.state is State.GLOBAL_MAINTENANCE


def test_leaving_global_maintenance_with_engine_nowhere_starts_it():
    d1 = decide(mem(State.GLOBAL_MAINTENANCE), snap())
    assert d1.state is State.ENGINE_START
    assert [a.kind for a in d1.actions] == [ActionKind.START_VM]


def test_unknown_local_vm_state_does_nothing():
    d = decide(mem(State.ENGINE_UP), snap(vm=VmStatus.UNKNOWN))
    assert (d.state, d.actions) == (State.UNKNOWN_LOCAL_VM_STATE, ())


def test_local_maintenance_stops_a_vm_here_then_waits_with_score_zero():
    d = decide(mem(State.ENGINE_UP), engine_up_here(local_maintenance=True))
    assert d.state is State.ENGINE_STOP
    assert [a.kind for a in d.actions] == [ActionKind.SHUTDOWN_VM]
    assert d.score == 0
    assert d.sentence == (
        "shut down the Engine VM because this host entered local maintenance "
        "(no live migration: this host cannot read the Engine VM lease)"
    )
    d2 = decide(d.memory, engine_up_here(now=150, local_maintenance=True))
    assert d2.actions == ()
    d3 = decide(d2.memory, engine_up_here(now=100 + T.stop, local_maintenance=True))
    assert d3.state is State.ENGINE_FORCE_STOP and [a.kind for a in d3.actions] == [ActionKind.DESTROY_VM]
    d4 = decide(d3.memory, snap(now=500, local_maintenance=True))
    assert (d4.state, d4.score) == (State.LOCAL_MAINTENANCE, 0)
    d5 = decide(d4.memory, engine_on_other_host(now=600))
    assert d5.state is State.ENGINE_DOWN


# -- EngineDown ----------------------------------------------------------------------------------


def test_best_host_starts_when_nobody_runs_the_engine():
    d = decide(mem(State.ENGINE_DOWN), snap(peers=[peer(2, score=3000)]))
    assert d.state is State.ENGINE_START
    assert [a.kind for a in d.actions] == [ActionKind.START_VM]
    assert d.sentence == "started Engine VM because this host has the best score (3400) and no host runs it"


def test_nothing_to_do_while_engine_up_elsewhere():
    first = decide(mem(State.ENGINE_DOWN), engine_on_other_host(score=1800))
    d = decide(first.memory, engine_on_other_host(score=1800, now=105))
    assert (first.steady, d.state, d.actions, d.steady) == (False, State.ENGINE_DOWN, (), True)
    assert d.sentence == "no action: engine up on host 2 (score 3400), I am host 1 (score 1800)"


@pytest.mark.parametrize(
    "peers, mine, expected",
    [
        (
            [peer(2, score=3400, priority=5)],
            3400,
            "host 2 is better placed (score 3400, priority 5; mine 3400, priority 0)",
        ),
        ([peer(2, score=3400)], 3000, "host 2 is better placed"),
    ],
)
def test_a_better_host_is_left_to_start_it(peers, mine, expected):
    d = decide(mem(State.ENGINE_DOWN), snap(score=mine, peers=peers))
    assert d.actions == () and expected in d.sentence


def test_ties_go_to_the_lower_host_id_exactly_one_starts():
    peers = [peer(2), peer(3)]
    d = decide(mem(State.ENGINE_DOWN), snap(peers=peers))
    assert d.state is State.ENGINE_START  # host 1 is the lowest id among equals
    other = Snapshot(now=100, host_id=2, score=3400, vm=VmStatus.DOWN, peers={1: peer(1), 3: peer(3)})
    assert decide(mem(State.ENGINE_DOWN), other).actions == ()


@pytest.mark.parametrize("liveness", [Liveness.FAIL, Liveness.DEAD, Liveness.UNKNOWN, Liveness.FREE])
def test_hosts_not_live_are_not_candidates(liveness):
    d = decide(mem(State.ENGINE_DOWN), snap(score=2000, peers=[peer(2, liveness=liveness)]))
    assert d.state is State.ENGINE_START


def test_engines_host_failing_means_wait_for_dead_and_poll_fast():
    s = snap(peers=[peer(2, vm="up", liveness=Liveness.FAIL)], lease_owner=2)
    d = decide(mem(State.ENGINE_DOWN), s)
    assert d.actions == () and d.wake_after == T.dead_poll
    assert "host 2 holds the Engine VM lease and is failing in sanlock" in d.sentence
    dead = snap(peers=[peer(2, vm="up", liveness=Liveness.DEAD)], lease_owner=2)
    assert decide(d.memory, dead).state is State.ENGINE_START


def test_unreadable_lease_means_no_start():
    d = decide(mem(State.ENGINE_DOWN), snap(lease_known=False))
    assert d.actions == () and "cannot be read" in d.sentence


def test_score_zero_never_starts():
    d = decide(mem(State.ENGINE_DOWN), snap(score=0, score_detail="storage unavailable"))
    assert d.actions == () and "score 0: storage unavailable" in d.sentence


def test_every_host_lost_the_network_nobody_moves_the_engine():
    d = decide(mem(State.ENGINE_UP), engine_up_here(score=1800, peers=[peer(2, score=1800), peer(3, score=1800)]))
    assert (d.state, d.actions) == (State.ENGINE_UP, ())


# -- EngineStart ---------------------------------------------------------------------------------


def started(now=100.0):
    return decide(mem(State.ENGINE_DOWN), snap(now=now)).memory


def test_start_in_progress_is_not_repeated():
    d = decide(started(), snap(now=105, action_running=ActionKind.START_VM))
    assert (d.state, d.actions) == (State.ENGINE_START, ())
    assert d.sentence == "no action: Engine VM start in progress (5 s)"


def test_start_success_goes_to_starting_and_clears_failures():
    memory = replace(started(), start_failures=(90.0,))
    d = decide(memory, snap(now=103, vm=VmStatus.UP, action_result=ActionResult(ActionKind.START_VM, True)))
    assert d.state is State.ENGINE_STARTING and d.memory.start_failures == ()


def test_lost_lease_race_is_not_a_failure_and_does_not_loop():
    result = ActionResult(ActionKind.START_VM, False, lease_held_elsewhere=True, error="-243")
    d = decide(started(), snap(now=101, action_result=result, lease_owner=2, peers=[peer(2, state="EngineStart")]))
    assert (d.state, d.actions, d.memory.start_failures) == (State.ENGINE_DOWN, (), ())
    assert d.sentence == "no action: lost the race for the Engine VM lease to host 2; not counted as a failure"
    # Next tick: host 2 now holds the lease: no new start, no force-stop.
    d2 = decide(d.memory, snap(now=102, lease_owner=2, peers=[peer(2, vm="up")]))
    assert d2.actions == ()


def test_start_failure_is_counted_with_one_clock():
    d = decide(started(), snap(now=101, action_result=ActionResult(ActionKind.START_VM, False, error="boom")))
    assert d.state is State.ENGINE_DOWN and d.memory.start_failures == (101,)
    assert "Engine VM start failed (boom); 1 failure(s) in 600 s" in d.sentence
    # Old failures drop out of the window on the same clock.
    memory = replace(
        d.memory, state=State.ENGINE_START, start_failures=(0.0, 101.0), sent_actions=frozenset({ActionKind.START_VM})
    )
    d2 = decide(memory, snap(now=700, action_result=ActionResult(ActionKind.START_VM, False, error="x")))
    assert d2.memory.start_failures == (101.0, 700)


# -- running -------------------------------------------------------------------------------------


def test_starting_becomes_up_when_healthy():
    d = decide(mem(State.ENGINE_STARTING, since=100), engine_up_here(now=130))
    assert d.state is State.ENGINE_UP


def test_starting_too_long_stops_and_alerts_when_it_happened_before():
    s = snap(now=100 + T.starting, vm=VmStatus.UP, health=Health.BAD)
    d = decide(mem(State.ENGINE_STARTING, since=100), s)
    assert d.state is State.ENGINE_STOP and [a.kind for a in d.actions] == [ActionKind.SHUTDOWN_VM]
    assert d.memory.health_restarts == (700,)
    again = mem(State.ENGINE_STARTING, since=800, health_restarts=(700,))
    d2 = decide(again, snap(now=800 + T.starting, vm=VmStatus.UP, health=Health.BAD))
    assert [a.kind for a in d2.actions] == [ActionKind.SHUTDOWN_VM, ActionKind.ALERT]


def test_up_and_healthy_is_steady():
    first = decide(mem(State.ENGINE_UP), engine_up_here(peers=[peer(2)]))
    d = decide(first.memory, engine_up_here(peers=[peer(2)], now=105))
    assert (d.state, d.actions, d.steady) == (State.ENGINE_UP, (), True)
    assert d.sentence == "no action: Engine VM up and healthy on this host (score 3400)"


def test_management_network_loss_hands_the_engine_over_when_the_gap_lasts():
    lost = dict(score=1800, score_detail="1800 (network -1600)", peers=[peer(2)])
    d1 = decide(mem(State.ENGINE_UP), engine_up_here(**lost))
    assert (d1.state, d1.actions, d1.wake_after) == (State.ENGINE_UP, (), T.handover_hold)
    assert d1.sentence == (
        "no action: host 2 scores 3400, 1600 above this host (1800 (network -1600)); handing over in 20 s if it lasts"
    )
    d2 = decide(d1.memory, engine_up_here(now=100 + T.handover_hold, **lost))
    assert d2.state is State.ENGINE_STOP and [a.kind for a in d2.actions] == [ActionKind.SHUTDOWN_VM]
    assert (
        d2.sentence
        == "shut down the Engine VM because host 2 scores 3400, 1600 above this host (1800 (network -1600)) "
        "(no live migration: this host cannot read the Engine VM lease)"
    )


def test_a_gap_that_vanishes_moves_nothing():
    """Every host lost the network: mine dropped first, theirs a tick later."""
    d1 = decide(mem(State.ENGINE_UP), engine_up_here(score=1800, peers=[peer(2)]))
    d2 = decide(d1.memory, engine_up_here(now=105, score=1800, peers=[peer(2, score=1800)]))
    assert (d2.state, d2.actions, d2.memory.better_since) == (State.ENGINE_UP, (), None)
    d3 = decide(d2.memory, engine_up_here(now=130, score=1800, peers=[peer(2, score=1800)]))
    assert d3.actions == ()


def test_priority_or_a_small_gap_never_moves_a_running_engine():
    peers = [peer(2, score=3400, priority=100), peer(3, score=3400 + 799)]
    d = decide(mem(State.ENGINE_UP), engine_up_here(peers=peers))
    assert d.actions == ()


def test_bad_health_is_restarted_after_the_timeout_then_alerts():
    d1 = decide(mem(State.ENGINE_UP), snap(now=100, vm=VmStatus.UP, health=Health.BAD))
    assert d1.state is State.ENGINE_UP_BAD_HEALTH and d1.actions == ()
    d2 = decide(d1.memory, snap(now=200, vm=VmStatus.UP, health=Health.BAD))
    assert d2.sentence == "no action: Engine health bad for 100 s, stopping the VM in 200 s"
    d3 = decide(d2.memory, snap(now=400, vm=VmStatus.UP, health=Health.BAD))
    assert d3.state is State.ENGINE_STOP and [a.kind for a in d3.actions] == [ActionKind.SHUTDOWN_VM]
    # Restarted; unhealthy again for the whole timeout: stop again and alert.
    again = replace(d3.memory, state=State.ENGINE_UP_BAD_HEALTH, bad_health_since=1000.0, sent_actions=frozenset())
    d4 = decide(again, snap(now=1300, vm=VmStatus.UP, health=Health.BAD))
    assert [a.kind for a in d4.actions] == [ActionKind.SHUTDOWN_VM, ActionKind.ALERT]
    assert "raised an alert" in d4.sentence


def test_health_recovering_returns_to_up():
    d = decide(mem(State.ENGINE_UP_BAD_HEALTH, bad_health_since=100), engine_up_here(now=200))
    assert d.state is State.ENGINE_UP and d.memory.bad_health_since is None


# -- crashes -------------------------------------------------------------------------------------


def test_crash_restarts_locally_first_then_steps_back():
    memory = mem(State.ENGINE_UP)
    for n in (1, 2):
        d = decide(memory, snap(now=100 * n, vm_down_reason="crashed"))
        assert d.state is State.ENGINE_START and [a.kind for a in d.actions] == [ActionKind.START_VM]
        assert f"local restart {n} of 2" in d.sentence
        # Up and healthy again in between: the count is by window, not reset by recovery.
        memory = decide(replace(d.memory, state=State.ENGINE_STARTING), engine_up_here(now=100 * n + 30)).memory
        assert memory.state is State.ENGINE_UP
    d = decide(memory, snap(now=300, vm_down_reason="crashed"))
    assert d.state is State.ENGINE_UNEXPECTEDLY_DOWN and d.actions == () and d.score == 0
    assert d.sentence.startswith("stepped back for 600 s because the Engine VM went down unexpectedly (crashed)")
    d2 = decide(d.memory, snap(now=500))
    assert d2.score == 0 and d2.actions == ()
    d3 = decide(d2.memory, snap(now=901))
    assert d3.state is State.ENGINE_DOWN


def test_vm_killed_with_storage_lost_does_not_step_back_for_a_restart_never_tried():
    """Given a host at score 0 (storage lost), when its Engine VM dies, then it neither restarts it
    nor steps back for 600 s: healed, it may start the Engine again at once (issue 12: the only
    eligible host sat idle and the Engine was down 627 s)."""
    d = decide(mem(State.ENGINE_UP), snap(score=0, vm_down_reason="lease lost"))
    assert (d.state, d.actions, d.score) == (State.ENGINE_DOWN, (), 0)
    assert d.sentence.startswith("no action: the Engine VM went down unexpectedly (lease lost); this host cannot")
    healed = decide(d.memory, snap(now=130))
    assert healed.state is State.ENGINE_START


def test_vm_migrated_away_is_not_a_crash():
    d = decide(mem(State.ENGINE_UP), engine_on_other_host(vm_down_reason="migrated"))
    assert (d.state, d.actions) == (State.ENGINE_DOWN, ())


# -- stopping ------------------------------------------------------------------------------------


def test_stop_completes_or_is_forced():
    stop = mem(
        State.ENGINE_STOP,
        since=100,
        stop_reason="handing over to host 2",
        sent_actions=frozenset({ActionKind.SHUTDOWN_VM}),
    )
    d = decide(stop, snap(now=150, vm=VmStatus.POWERING_DOWN))
    assert d.actions == () and "powering off in 250 s" in d.sentence
    d = decide(stop, snap(now=100 + T.stop, vm=VmStatus.POWERING_DOWN))
    assert d.state is State.ENGINE_FORCE_STOP and [a.kind for a in d.actions] == [ActionKind.DESTROY_VM]
    d = decide(stop, snap(now=160))
    assert d.state is State.ENGINE_DOWN


def test_stopped_agent_publishes_zero():
    d = fsm.stopped(mem(State.ENGINE_UP), 5.0)
    assert (d.state, d.score) == (State.AGENT_STOPPED, 0)


def test_step_is_pure():
    memory, s = mem(State.ENGINE_DOWN), snap(peers=[peer(2, score=3000)])
    assert decide(memory, s) == decide(memory, s)


def test_steady_repeats_collapse_but_a_new_topic_is_news():
    up_on_2 = decide(mem(State.ENGINE_DOWN), engine_on_other_host(2))
    again = decide(up_on_2.memory, engine_on_other_host(2, now=105))
    moved = decide(again.memory, engine_on_other_host(3, now=110))
    assert (up_on_2.steady, again.steady, moved.steady) == (False, True, False)


def test_no_start_while_a_live_peer_has_not_published_its_real_score():
    d = decide(mem(State.ENGINE_DOWN), snap(peers=[peer(2, score=0, state="StartState")]))
    assert (
        d.actions == () and d.sentence == "no action: waiting for host(s) 2 to publish their score (at most 30 s more)"
    )


def test_timers_fire_despite_float_residue():
    """137.7 - 117.7 is 19.999999999999986: the 20 s hold must still end (no 1e-14 s wake-ups)."""
    lost = dict(score=1800, peers=[peer(2)])
    d1 = decide(mem(State.ENGINE_UP), engine_up_here(now=117.7, **lost))
    d2 = decide(d1.memory, engine_up_here(now=137.7, **lost))
    assert d2.state is State.ENGINE_STOP


def test_a_start_that_never_finishes_is_given_up_and_counted():
    memory = started(now=100.0)
    d = decide(memory, snap(now=100 + T.start - 1, action_running=ActionKind.START_VM))
    assert d.state is State.ENGINE_START
    d = decide(memory, snap(now=100 + T.start, action_running=ActionKind.START_VM))
    assert (d.state, d.memory.start_failures) == (State.ENGINE_DOWN, (100 + T.start,))
    assert "gave up on an Engine VM start unfinished after 300 s" in d.sentence


# -- issue 12: stuck or slow ----------------------------------------------------------------------


def test_a_host_whose_vm_runtime_does_not_answer_publishes_score_0():
    d = decide(mem(State.ENGINE_DOWN), snap(vm=VmStatus.UNKNOWN))
    assert (d.state, d.score) == (State.UNKNOWN_LOCAL_VM_STATE, 0)


def test_a_host_that_cannot_read_the_lease_publishes_score_0():
    d = decide(mem(State.ENGINE_DOWN), snap(lease_known=False))
    assert d.actions == () and d.score == 0
    assert "not starting the Engine VM blind" in d.sentence


def test_a_peer_stuck_in_start_state_holds_back_a_start_for_a_bounded_time():
    """Given host 2 live but stuck in StartState (it cannot read the whiteboard), then host 1 waits
    for it at most `forming` seconds, saying so, then starts the Engine."""
    stuck = [peer(2, score=0, state="StartState")]
    d = decide(mem(State.ENGINE_DOWN), snap(now=100, peers=stuck))
    assert (
        d.actions == () and d.sentence == "no action: waiting for host(s) 2 to publish their score (at most 30 s more)"
    )
    d = decide(d.memory, snap(now=120, peers=stuck))
    assert d.actions == () and d.sentence.endswith("(at most 10 s more)")
    d = decide(d.memory, snap(now=130, peers=stuck))
    assert d.state is State.ENGINE_START and [a.kind for a in d.actions] == [ActionKind.START_VM]


def test_a_failed_power_off_is_retried_with_back_off_and_one_alert():
    """Given EngineForceStop, when the destroy fails, then one alert, a retry after 10 s, then 20 s."""
    memory = mem(
        State.ENGINE_FORCE_STOP,
        since=0.0,
        stop_reason="Engine unhealthy",
        sent_actions=frozenset({ActionKind.DESTROY_VM}),
    )
    failed = ActionResult(ActionKind.DESTROY_VM, False, error="libvirt: timed out")
    d = decide(memory, snap(now=100, vm=VmStatus.UP, action_result=failed))
    assert [a.kind for a in d.actions] == [ActionKind.ALERT]
    assert d.sentence == "no action: powering off the Engine VM failed (libvirt: timed out); retrying in 10 s"
    d = decide(d.memory, snap(now=105, vm=VmStatus.UP))
    assert d.actions == ()
    d = decide(d.memory, snap(now=110, vm=VmStatus.UP))
    assert [a.kind for a in d.actions] == [ActionKind.DESTROY_VM]
    assert d.sentence == "powered off the Engine VM again because the last attempt failed (attempt 2)"
    d = decide(d.memory, snap(now=111, vm=VmStatus.UP, action_result=failed))
    assert d.actions == () and d.sentence.endswith("retrying in 20 s")  # no second alert
    d = decide(d.memory, snap(now=131, vm=VmStatus.DOWN))
    assert d.state is State.ENGINE_DOWN


def test_a_migration_whose_abort_does_nothing_is_given_up():
    """Given a live migration aborted after 120 s, when nothing ends it for 30 s more, then the
    source falls back to stop + restart elsewhere instead of waiting forever."""
    memory = mem(
        State.ENGINE_MIGRATING_AWAY,
        since=0.0,
        migration_target=2,
        migration_why="degraded",
        sent_actions=frozenset({ActionKind.MIGRATE_VM}),
    )
    running = dict(vm=VmStatus.UP, health=Health.GOOD, action_running=ActionKind.MIGRATE_VM)
    d = decide(memory, snap(now=120, **running))
    assert [a.kind for a in d.actions] == [ActionKind.ABORT_MIGRATION]
    d = decide(d.memory, snap(now=140, **running))
    assert d.actions == () and d.state is State.ENGINE_MIGRATING_AWAY
    d = decide(d.memory, snap(now=150, **running))
    assert d.state is State.ENGINE_STOP and [a.kind for a in d.actions] == [ActionKind.SHUTDOWN_VM]
    assert "still unfinished 30 s after it was aborted" in d.sentence


def test_a_shutdown_that_could_not_begin_is_asked_again():
    memory = mem(State.ENGINE_STOP, since=0.0, stop_reason="Engine unhealthy")  # the agent withdrew it
    d = decide(memory, snap(now=10, vm=VmStatus.UP))
    assert [a.kind for a in d.actions] == [ActionKind.SHUTDOWN_VM]
    assert d.sentence.startswith("asked the Engine VM to shut down again")


def test_a_paused_engine_vm_is_powered_off_after_30_s():
    d = decide(mem(State.ENGINE_UP), snap(now=100, vm=VmStatus.PAUSED, health=Health.BAD))
    assert d.actions == () and d.sentence.startswith("no action: the Engine VM is paused (its lease released)")
    d = decide(d.memory, snap(now=115, vm=VmStatus.PAUSED, health=Health.BAD))
    assert d.actions == ()
    d = decide(d.memory, snap(now=130, vm=VmStatus.PAUSED, health=Health.BAD))
    assert d.state is State.ENGINE_FORCE_STOP and [a.kind for a in d.actions] == [ActionKind.DESTROY_VM]


def test_no_handover_to_a_host_whose_agent_stopped_publishing():
    """A peer whose slot has not changed for more than `peer_fresh` is no handover target, even
    while it is still trusted as alive (`stale_after`)."""
    hung = peer(2, age=11.0)
    d = decide(mem(State.ENGINE_UP), engine_up_here(score=1800, peers=[hung]))
    assert d.actions == () and d.memory.better_since is None
    working = peer(2, age=2.0)
    d = decide(mem(State.ENGINE_UP), engine_up_here(score=1800, peers=[working]))
    assert d.memory.better_since == 100.0


def test_a_free_lease_outranks_a_stale_engine_up_slot():
    """After its VM crashed, a peer's slot may still say "up" for a tick; the lease is free: the
    best host starts the Engine at once instead of waiting for that slot to go stale."""
    d = decide(mem(State.ENGINE_DOWN), snap(peers=[peer(2, score=1000, vm="up")], lease_owner=None))
    assert d.state is State.ENGINE_START


def test_monitors_without_values_yet_are_no_reason_to_act():
    d = decide(mem(State.ENGINE_UP), engine_up_here(score=800, peers=[peer(2)], monitors_ready=False))
    assert d.state is State.START and d.actions == ()
    assert d.sentence == "no action: waiting for the monitors' first values (no value is not a bad value)"


def test_a_vm_dying_in_global_maintenance_is_news():
    d = decide(mem(State.GLOBAL_MAINTENANCE), snap(vm=VmStatus.UP, global_maintenance=True))
    d2 = decide(d.memory, snap(vm=VmStatus.UP, global_maintenance=True))
    d3 = decide(d2.memory, snap(vm=VmStatus.DOWN, global_maintenance=True))
    assert d2.steady and not d3.steady


def test_storage_loss_is_named():
    blind = Snapshot(now=1, host_id=1, score=0, vm=VmStatus.DOWN, peers=None, storage_error="EIO reading metadata")
    d = decide(mem(State.ENGINE_DOWN), blind)
    assert d.sentence == "no action: storage unavailable (EIO reading metadata); waiting for it"


def test_an_engine_unhealthy_again_after_a_restart_here_steps_back_and_alerts_once():
    memory = mem(State.ENGINE_UP_BAD_HEALTH, bad_health_since=0.0, health_restarts=(10.0,))
    d = decide(memory, snap(now=400, vm=VmStatus.UP, health=Health.BAD))
    assert [a.kind for a in d.actions] == [ActionKind.SHUTDOWN_VM, ActionKind.ALERT]
    assert d.memory.backoff_until == 1000.0
    down = decide(replace(d.memory, state=State.ENGINE_DOWN), snap(now=500, peers=[peer(2)]))
    assert down.actions == () and down.score == 0 and "stepped back" in down.sentence
    alone = decide(replace(d.memory, state=State.ENGINE_DOWN), snap(now=500))
    assert alone.state is State.ENGINE_START  # no other host could try: stepping back would only wait


def test_the_agent_fences_a_vm_that_runs_on_without_the_host_id():
    """Given this host lost its sanlock lockspace and sanlock did not kill the Engine VM, then the
    agent powers it off itself after `fence` seconds (defence in depth), and retries like any
    power-off."""
    unleased = dict(vm=VmStatus.UP, health=Health.GOOD, lockspace_held=False)
    d = decide(mem(State.ENGINE_UP), snap(now=100, **unleased))
    assert d.actions == () and d.sentence.startswith("no action: the Engine VM runs here but this host lost")
    d = decide(d.memory, snap(now=110, **unleased))
    assert d.actions == ()
    d = decide(d.memory, snap(now=115, **unleased))
    assert d.state is State.ENGINE_FORCE_STOP and [a.kind for a in d.actions] == [ActionKind.DESTROY_VM]
    assert d.sentence == "powered off the Engine VM because it ran on without its lease (lost its sanlock host id)"
    back = decide(mem(State.ENGINE_UP, unleased_since=100.0), engine_up_here(now=105))
    assert back.memory.unleased_since is None and back.actions == ()  # the host id came back in time


@pytest.mark.parametrize(
    "held, owner, known, peers, seen, fenced",
    [
        (False, 1, True, [], False, True),  # sanlock says: no host id here
        (True, None, True, [], True, True),  # rejoined, but the record's generation is gone: owns nothing
        (True, 2, True, [], True, True),  # the lease names another host
        (True, None, True, [], False, False),  # never seen holding it here (nothing to have lost)
        (None, None, True, [], True, False),  # sanlock cannot tell now (joining, busy): no timer
        (True, None, False, [], True, False),  # the lease unreadable: no timer
        (True, 1, True, [], True, False),  # leased: nothing to do
        (True, 2, True, [peer(2, migrating_to=1)], True, False),  # the destination of a live migration
    ],
)
def test_the_fence_acts_only_on_a_sure_answer(held, owner, known, peers, seen, fenced):
    memory = mem(State.ENGINE_UP, leased_here=seen)
    facts = dict(vm=VmStatus.UP, health=Health.GOOD, lockspace_held=held, lease_owner=owner, lease_known=known)
    d = decide(memory, snap(now=100, peers=peers, **facts))
    d = decide(d.memory, snap(now=116, peers=peers, **facts))
    assert (ActionKind.DESTROY_VM in [a.kind for a in d.actions]) is fenced


def test_the_lease_once_seen_here_is_remembered_while_the_vm_runs():
    d = decide(mem(State.ENGINE_UP), engine_up_here(now=100))
    assert d.memory.leased_here is True
    d = decide(d.memory, snap(now=105))
    assert d.memory.leased_here is False  # the VM went: a new one must hold its lease anew


def test_an_unsure_answer_neither_starts_nor_stops_the_fence_timer():
    unleased = dict(vm=VmStatus.UP, health=Health.GOOD, lockspace_held=False)
    d = decide(mem(State.ENGINE_UP), snap(now=100, **unleased))
    d = decide(d.memory, snap(now=108, vm=VmStatus.UP, health=Health.GOOD, lockspace_held=None))
    assert d.memory.unleased_since == 100.0  # joining: the timer goes on
    d = decide(d.memory, snap(now=115, vm=VmStatus.UP, health=Health.GOOD, lockspace_held=None))
    assert [a.kind for a in d.actions] == [ActionKind.DESTROY_VM]


def test_a_migration_that_could_not_begin_is_decided_again_not_a_shutdown():
    """The host refused to begin the migration (another action still ran): nothing was tried, so the
    healthy Engine is not shut down; the running state decides again."""
    memory = mem(State.ENGINE_MIGRATING_AWAY, migration_target=2, migration_why="degraded")  # withdrawn
    d = decide(memory, snap(now=10, vm=VmStatus.UP, health=Health.GOOD))
    assert d.state is State.ENGINE_UP and d.actions == ()
    assert d.sentence == "no action: the live migration to host 2 could not begin; deciding again"
