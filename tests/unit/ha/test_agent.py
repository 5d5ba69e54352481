"""The agent loop's own duties on the simulator's env: one sentence per tick, a bug logged once."""

import logging

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
