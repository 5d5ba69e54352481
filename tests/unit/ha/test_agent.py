"""The agent loop's own duties on the simulator's env: one sentence per tick, a bug logged once, an
answer to every live-migration request."""

import logging

from vdsm_hosted_engine.ha import fsm
from vdsm_hosted_engine.ha.agent import BUG_SENTENCE
from vdsm_hosted_engine.sim.world import World


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
    sentences = [r.getMessage() for r in caplog.records if r.getMessage() == BUG_SENTENCE.format(step="decide")]
    assert len(tracebacks) == 1 and len(sentences) == 2


def _engine_up(hosts: int) -> tuple[World, object]:
    world = World(host_count=hosts)
    for host in world.hosts.values():
        world.power_on(host)
    world.run_until(300)
    (running,) = world.running_vms()
    return world, world.hosts[running]


def test_a_migration_request_is_answered_with_the_destination_the_agent_chose():
    world, host = _engine_up(2)
    other = next(h for h in world.hosts if h != host.host_id)
    agent = host.agent
    answered = agent.migration_answers
    host.migrate_request = 0
    agent.tick()
    answer = agent.wait_migration_answer(answered, 0)
    assert answer is not None and answer.target == other and answer.number == answered + 1
    assert "live-migrating" in answer.sentence


def test_a_refused_migration_request_is_answered_with_the_reason():
    _, host = _engine_up(1)
    agent = host.agent
    host.migrate_request = 0
    agent.tick()
    answer = agent.wait_migration_answer(0, 0)
    assert answer is not None and answer.target is None
    assert "refused: no live eligible host" in answer.sentence


def test_a_migration_request_meeting_a_bug_is_still_answered(monkeypatch):
    _, host = _engine_up(1)
    host.migrate_request = 2

    def broken(*args):
        raise RuntimeError("the state machine exploded")

    monkeypatch.setattr(fsm, "step", broken)
    assert host.agent.tick() is None
    answer = host.agent.wait_migration_answer(0, 0)
    assert answer is not None and answer.target is None and answer.sentence == BUG_SENTENCE.format(step="decide")


def test_no_answer_without_a_request():
    _, host = _engine_up(1)
    host.agent.tick()
    assert host.agent.wait_migration_answer(0, 0.01) is None
