"""The random-schedule test: a few hundred seeds, invariants after every event, Engine back after
healing. `bench/sim_campaign.py` runs 10,000."""

from vdsm_hosted_engine.sim import campaign


def test_random_schedules_keep_the_invariants():
    report = campaign.run_many(200, seed=1)
    assert report.failures == [], campaign.render(report)


def test_a_run_is_replayable_from_its_seed():
    a, b = campaign.run_one(42), campaign.run_one(42)
    assert (a.commands, a.outages, a.violations) == (b.commands, b.outages, b.violations)
