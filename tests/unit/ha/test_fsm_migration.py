"""Live migration in the state machine: when the Engine's host migrates it, to whom, what happens
when it fails, and the identity check that keeps a host reading another lease from ever getting it."""

from vdsm_hosted_engine.ha import fsm
from vdsm_hosted_engine.ha.fsm import Memory, State, Timeouts
from vdsm_hosted_engine.ha.snapshot import ActionKind, ActionResult, Snapshot
from vdsm_hosted_engine.observations import Health, VmStatus

from .test_fsm import T, decide, mem, peer, snap

ID = "sd-1:7"


def up_here(now=100.0, score=3400, peers=(), network=1.0, health=Health.GOOD, **kw):
    return snap(
        now=now, vm=VmStatus.UP, health=health, score=score, peers=list(peers), lease_owner=1, identity=ID,
        network=network, **kw,
    )  # fmt: skip


def good(host_id, score=3400, **kw):
    return peer(host_id, score=score, identity=ID, **kw)


def held(memory: Memory, snapshot_at, first=100.0):
    """Run the hand-over hold-down: a first tick that notices, one after the hold."""
    d1 = decide(memory, snapshot_at(first))
    assert d1.state is State.ENGINE_UP and d1.actions == ()
    return decide(d1.memory, snapshot_at(first + T.handover_hold))


def test_a_degraded_host_migrates_the_engine_to_the_better_host_after_the_hold():
    d = held(mem(State.ENGINE_UP), lambda now: up_here(now, score=2400, peers=[good(2), good(3, score=3000)]))
    assert d.state is State.ENGINE_MIGRATING_AWAY
    assert [(a.kind, a.target) for a in d.actions] == [(ActionKind.MIGRATE_VM, 2)]
    assert d.sentence.startswith("live-migrating the Engine VM to host 2 (score 3400) because host 2 scores 3400")


def test_no_migration_without_the_management_network_the_vm_is_stopped_instead():
    d = held(mem(State.ENGINE_UP), lambda now: up_here(now, score=1800, network=0.0, peers=[good(2)]))
    assert d.state is State.ENGINE_STOP and [a.kind for a in d.actions] == [ActionKind.SHUTDOWN_VM]
    assert d.sentence.endswith("(no live migration: this host has lost the management network)")


def test_a_host_reading_another_lease_gets_the_engine_neither_by_migration_nor_by_restart():
    other = peer(2, score=3400, identity="sd-1:0")
    d = decide(mem(State.ENGINE_UP), up_here(100.0, score=2400, peers=[other]))
    assert d.state is State.ENGINE_UP and [a.kind for a in d.actions] == [ActionKind.ALERT]
    assert "not handing the Engine VM to them" in d.sentence
    d2 = decide(d.memory, up_here(100.0 + T.handover_hold, score=2400, peers=[other]))
    assert d2.state is State.ENGINE_UP and d2.actions == ()  # and the alert is raised once


def test_a_host_that_reads_another_lease_than_the_others_does_not_start_the_engine():
    lone = snap(identity="sd-1:0", peers=[good(2, vm="down"), good(3, vm="down")])
    d = decide(mem(State.ENGINE_DOWN), lone)
    assert d.state is State.ENGINE_DOWN
    assert [a.kind for a in d.actions] == [ActionKind.ALERT]
    assert "host(s) 2, 3 read another storage domain or Engine VM lease" in d.sentence


def test_the_majority_still_starts_it_and_ignores_the_odd_host():
    d = decide(mem(State.ENGINE_DOWN), snap(identity=ID, peers=[good(2, vm="down"), peer(3, identity="x:0")]))
    assert d.state is State.ENGINE_START  # host 3 ranks higher (id) but reads another lease: not deferred to


def test_success_leaves_the_host_in_engine_down():
    migrating = mem(State.ENGINE_MIGRATING_AWAY, since=100.0, migration_target=2, migration_why="degraded")
    gone = snap(
        now=101.0, vm_down_reason="migrated", identity=ID, action_result=ActionResult(ActionKind.MIGRATE_VM, True)
    )
    d = decide(migrating, gone)
    assert d.state is State.ENGINE_DOWN
    assert d.sentence == "no action: the Engine VM live-migrated to host 2 (degraded)"


def test_failure_falls_back_to_stop_and_restart_elsewhere():
    migrating = mem(State.ENGINE_MIGRATING_AWAY, since=100.0, migration_target=2, migration_why="degraded")
    failed = up_here(101.0, action_result=ActionResult(ActionKind.MIGRATE_VM, False, error="connection refused"))
    d = decide(migrating, failed)
    assert d.state is State.ENGINE_STOP and [a.kind for a in d.actions] == [ActionKind.SHUTDOWN_VM]
    assert "live migration to host 2 failed (connection refused)" in d.sentence


def test_a_failed_requested_migration_keeps_the_engine_here():
    migrating = mem(State.ENGINE_MIGRATING_AWAY, since=100.0, migration_target=2, migration_why="requested")
    failed = up_here(101.0, action_result=ActionResult(ActionKind.MIGRATE_VM, False, error="aborted"))
    d = decide(migrating, failed)
    assert d.state is State.ENGINE_UP and d.actions == ()
    assert d.sentence.endswith("the Engine VM stays on this host")


def test_a_migration_that_takes_too_long_is_aborted_once():
    migrating = mem(State.ENGINE_MIGRATING_AWAY, since=100.0, migration_target=2, migration_why="degraded")
    d = decide(migrating, up_here(100.0 + T.migration, action_running=ActionKind.MIGRATE_VM))
    assert [a.kind for a in d.actions] == [ActionKind.ABORT_MIGRATION]
    d2 = decide(d.memory, up_here(101.0 + T.migration, action_running=ActionKind.MIGRATE_VM))
    assert d2.actions == ()


def test_a_vm_crashing_mid_migration_is_restarted_locally():
    migrating = mem(State.ENGINE_MIGRATING_AWAY, since=100.0, migration_target=2, migration_why="degraded")
    d = decide(migrating, snap(now=101.0, vm_down_reason="crashed", identity=ID, peers=[good(2)]))
    assert d.state is State.ENGINE_START and [a.kind for a in d.actions] == [ActionKind.START_VM]


def test_local_maintenance_evacuates_by_live_migration_first():
    d = decide(mem(State.ENGINE_UP), up_here(local_maintenance=True, peers=[good(2), good(3)]))
    assert d.state is State.ENGINE_MIGRATING_AWAY and d.actions[0].target == 2  # equal scores: the lower id
    gone = snap(now=102.0, vm_down_reason="migrated", local_maintenance=True, identity=ID,
                action_result=ActionResult(ActionKind.MIGRATE_VM, True))  # fmt: skip
    d2 = decide(d.memory, gone)
    assert (d2.state, d2.score) == (State.LOCAL_MAINTENANCE, 0)


def test_an_explicit_request_names_the_target_or_is_refused_with_the_reason():
    d = decide(mem(State.ENGINE_UP), up_here(migrate_request=2, peers=[good(2), good(3)]))
    assert d.state is State.ENGINE_MIGRATING_AWAY and d.actions[0].target == 2
    d = decide(mem(State.ENGINE_UP), up_here(migrate_request=4, peers=[good(2)]))
    assert (
        d.state is State.ENGINE_UP
        and d.sentence == "no action: live migration to host 4 refused: no live eligible host"
    )


def test_never_migrates_during_global_maintenance():
    d = decide(mem(State.GLOBAL_MAINTENANCE), up_here(migrate_request=2, global_maintenance=True, peers=[good(2)]))
    assert d.state is State.GLOBAL_MAINTENANCE and d.actions == ()


def test_a_destination_does_not_start_its_own_copy_while_a_migration_to_it_is_announced():
    source = peer(2, vm="up", identity=ID, migrating_to=1, state="EngineMigratingAway")
    d = decide(mem(State.ENGINE_DOWN), snap(identity=ID, peers=[source], lease_owner=None))
    assert d.state is State.ENGINE_DOWN and d.actions == ()


def test_the_migration_timeout_fires_despite_clock_residues():
    """397.3 + 120 is 517.3 on the clock but 119.99999999999994 s elapsed: the abort must still fire,
    not a wake-up 6e-14 s later, again and again (found by the random campaign, seed 3030)."""
    memory = Memory(
        state=State.ENGINE_MIGRATING_AWAY,
        since=397.3,
        migration_target=2,
        migration_why="degraded",
        sent_actions=frozenset({ActionKind.MIGRATE_VM}),
    )
    snapshot = Snapshot(
        now=517.3,
        host_id=1,
        score=2400,
        vm=VmStatus.UP,
        health=Health.GOOD,
        peers={},
        lease_owner=1,
        action_running=ActionKind.MIGRATE_VM,
    )
    d = fsm.step(memory, snapshot, Timeouts())
    assert [a.kind for a in d.actions] == [ActionKind.ABORT_MIGRATION]


def test_an_engine_unhealthy_for_a_moment_is_not_restarted_to_hand_over_and_migrates_once_healthy():
    """CI drill: CPU pressure on the Engine's host; the hold served at a tick whose health probe timed
    out shut the Engine down (a reboot) instead of live-migrating it. A better host is no reason to
    restart an Engine that is not healthy at this moment: the migration waits for a good probe."""
    better = [good(2)]
    d = held(mem(State.ENGINE_UP), lambda now: up_here(now, score=2400, peers=better, health=Health.BAD))
    assert d.actions == () and d.state is State.ENGINE_UP_BAD_HEALTH
    assert d.sentence.startswith("no action: Engine health bad for 0 s")
    d2 = decide(d.memory, up_here(100.0 + T.handover_hold + 5, score=2400, peers=better))
    assert d2.state is State.ENGINE_MIGRATING_AWAY
    assert [(a.kind, a.target) for a in d2.actions] == [(ActionKind.MIGRATE_VM, 2)]
    assert d2.memory.bad_health_since is None


def test_an_engine_that_stays_unhealthy_on_a_degraded_host_is_restarted_by_the_bad_health_timer():
    better = [good(2)]
    d = held(mem(State.ENGINE_UP), lambda now: up_here(now, score=2400, peers=better, health=Health.BAD))
    d2 = decide(d.memory, up_here(100.0 + T.handover_hold + T.health, score=2400, peers=better, health=Health.BAD))
    assert d2.state is State.ENGINE_STOP and [a.kind for a in d2.actions] == [ActionKind.SHUTDOWN_VM]
    assert d2.sentence.startswith("shut down the Engine VM because the Engine has been unhealthy for")
