"""The agent loop's own duties on the simulator's env: one sentence per tick, a bug logged once, an
answer to every live-migration request."""

import logging
import threading
import time

from vdsm_hosted_engine.errors import StorageUnavailable
from vdsm_hosted_engine.ha import fsm
from vdsm_hosted_engine.ha.agent import BUG_SENTENCE
from vdsm_hosted_engine.sim.world import World
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness


def test_a_bug_in_a_tick_is_logged_once_and_the_loop_goes_on(caplog):
    world = World(host_count=1)
    host = world.hosts[1]
    world.power_on(host)
    world.run_until(30)
    agent = host.agent

    def broken():
        raise RuntimeError("monitors exploded")

    agent.env.monitors = broken
    with caplog.at_level(logging.INFO, logger="vdsm_hosted_engine"):
        assert agent.tick() is None
        assert agent.tick() is None
    tracebacks = [r for r in caplog.records if r.exc_info]
    sentences = [r.getMessage() for r in caplog.records if r.getMessage() == BUG_SENTENCE.format(step="refresh")]
    assert len(tracebacks) == 1 and len(sentences) == 2


def _engine_up(hosts: int) -> tuple[World, object]:
    world = World(host_count=hosts)
    for host in world.hosts.values():
        world.power_on(host)
    world.run_until(300)
    (running,) = world.running_vms()
    return world, world.hosts[running]


def _answered_by_next_tick(host, target: int):
    """ask_migration from another thread (as a verb does), the loop's next tick in this one."""
    result = []
    asking = threading.Thread(target=lambda: result.append(host.agent.ask_migration(target, 10)))
    answered = host.agent.migration_answers
    asking.start()
    while host.migrate_request is None:  # the request is in
        assert asking.is_alive()
        time.sleep(0.001)
    host.agent.tick()
    asking.join()
    ((answer, withdrawn),) = result
    assert answer is not None and answer.number == answered + 1 and not withdrawn
    return answer


def test_a_migration_request_is_answered_with_the_destination_the_agent_chose():
    world, host = _engine_up(2)
    other = next(h for h in world.hosts if h != host.host_id)
    answer = _answered_by_next_tick(host, 0)
    assert answer.target == other and "live-migrating" in answer.sentence


def test_a_refused_migration_request_is_answered_with_the_reason():
    _, host = _engine_up(1)
    answer = _answered_by_next_tick(host, 0)
    assert answer.target is None and "refused: no live eligible host" in answer.sentence


def test_a_migration_request_meeting_a_bug_is_still_answered(monkeypatch):
    _, host = _engine_up(1)

    def broken(*args):
        raise RuntimeError("the state machine exploded")

    monkeypatch.setattr(fsm, "step", broken)
    answer = _answered_by_next_tick(host, 2)
    assert answer.target is None and answer.sentence == BUG_SENTENCE.format(step="decide")


def test_a_request_the_loop_does_not_take_in_time_is_withdrawn():
    _, host = _engine_up(1)
    assert host.agent.ask_migration(2, 0.01) == (None, True)
    assert host.migrate_request is None
    host.agent.tick()
    assert host.agent.wait_migration_answer(0, 0) is None  # nothing was left to act on later


def test_an_exception_from_an_action_or_the_publish_does_not_end_the_loop(caplog):
    """A libvirtError from an ABORT, a ValueError from the slot encoder: not HostedEngineErrors,
    raised after the decision. The tick says so and the next one runs (issue 12)."""
    world = World(host_count=1)
    host = world.hosts[1]
    world.power_on(host)
    world.run_until(30)
    agent = host.agent

    def broken(*args):
        raise ValueError("slot too long")

    agent.env.write_slot = broken
    with caplog.at_level(logging.INFO, logger="vdsm_hosted_engine"):
        assert agent.tick() is None
    assert BUG_SENTENCE.format(step="publish") in [r.getMessage() for r in caplog.records]
    del agent.env.write_slot
    assert agent.tick() is not None


def test_an_action_the_env_refuses_is_withdrawn_and_said(caplog):
    """Given the env refuses to begin the start (another action still runs), then the sentence says
    it could not begin, the state machine does not count it as sent, and a later tick asks again."""
    from vdsm_hosted_engine.errors import HostedEngineError
    from vdsm_hosted_engine.ha.snapshot import ActionKind

    world = World(host_count=1)
    host = world.hosts[1]
    world.power_on(host)
    refused = []
    original = host.agent.env.begin

    def busy(action):
        if action.kind is ActionKind.START_VM and not refused:
            refused.append(action)
            raise HostedEngineError("destroy still running; not starting start")
        original(action)

    host.agent.env.begin = busy
    with caplog.at_level(logging.INFO, logger="vdsm_hosted_engine"):
        world.run_until(60)
    messages = [r.getMessage() for r in caplog.records]
    assert (
        "could not begin the Engine VM's start (destroy still running; not starting start); will ask again" in messages
    )
    refusal = messages.index(
        "could not begin the Engine VM's start (destroy still running; not starting start); will ask again"
    )
    assert not any(m.startswith("started Engine VM") for m in messages[:refusal])  # no false "started"
    assert refused and world.running_vms() == [1]


def test_the_handover_hold_outlasts_the_monitors_skew_between_hosts():
    """Every host losing the network at once must move nothing: another host measures and publishes
    the same loss up to its monitor's interval + probe time + two ticks later than this one (seen in
    the lab with a 5 s hold: the Engine was shut down and restarted). The hold is raised to that."""
    from vdsm_hosted_engine.ha.agent import Agent, AgentConfig
    from vdsm_hosted_engine.ha.fsm import Timeouts

    world = World(host_count=1)
    host = world.hosts[1]
    world.power_on(host)
    config = AgentConfig(host_id=1, hostname="h1", tick=5.0, monitor_skew=7.0, timeouts=Timeouts(handover_hold=5.0))
    assert Agent(host.agent.env, config).config.timeouts.handover_hold == 17.0
    roomy = AgentConfig(host_id=1, hostname="h1", tick=5.0, monitor_skew=7.0, timeouts=Timeouts(handover_hold=20.0))
    assert Agent(host.agent.env, roomy).config.timeouts.handover_hold == 20.0


def test_each_cycle_keeps_its_whiteboard_and_liveness_for_the_read_verbs():
    world, host = _engine_up(2)
    other = next(h for h in world.hosts if h != host.host_id)
    agent = host.agent
    agent.tick()
    view = agent.view
    assert view.read_at == world.now
    assert sorted(view.board.hosts) == sorted(world.hosts)
    assert view.liveness[other] is Liveness.LIVE
    world.run_until(world.now + 5)
    agent.tick()
    assert agent.view is not view and agent.view.read_at == world.now  # refreshed each cycle


def test_a_cycle_that_cannot_read_the_whiteboard_keeps_the_last_view():
    world, host = _engine_up(1)
    agent = host.agent
    agent.tick()
    view = agent.view

    def unreadable():
        raise StorageUnavailable("EIO")

    agent.env.read_whiteboard = unreadable
    world.run_until(world.now + 5)
    agent.tick()
    assert agent.view is view  # its read_at says how old it is
