"""Score: oVirt's weights, missing monitor values count as failed, ranking."""

import pytest

from vdsm_hosted_engine.config import ScoreConfig
from vdsm_hosted_engine.ha import score
from vdsm_hosted_engine.ha.score import ScoreInputs

HEALTHY = ScoreInputs(network=1.0, bridge_up=True, mem_free_mib=8192, cpu_load=0.1, vm_mem_mib=4096)


@pytest.mark.parametrize(
    "change, value, penalties",
    [
        ({}, 3400, ()),
        ({"network": 0.0}, 1800, (("network", 1600),)),
        ({"network": 0.6}, 2760, (("network", 640),)),
        ({"network": None}, 1800, (("network", 1600),)),
        ({"bridge_up": False}, 2800, (("management bridge down", 600),)),
        ({"bridge_up": None}, 2800, (("management bridge down", 600),)),
        ({"cpu_load": 0.4}, 3400, ()),
        ({"cpu_load": 0.65}, 2900, (("cpu load", 500),)),
        ({"cpu_load": 0.95}, 2400, (("cpu load", 1000),)),
        ({"cpu_load": None}, 2400, (("cpu load", 1000),)),
        ({"mem_free_mib": 1000}, 3000, (("free memory", 400),)),
        ({"mem_free_mib": 1000, "vm_running_here": True}, 3400, ()),
        ({"start_retries": 2}, 3300, (("start retries", 100),)),
        ({"start_retries": 4}, 0, (("start retries exhausted", 3400),)),
        ({"config_outdated": True}, 2400, (("configuration outdated", 1000),)),
        ({"network": 0.0, "bridge_up": False, "cpu_load": 1.0, "mem_free_mib": 0}, 0, None),
    ],
)
def test_ovirt_weights(change, value, penalties):
    result = score.compute(ScoreConfig(), ScoreInputs(**{**HEALTHY.__dict__, **change}))
    assert result.value == value
    if penalties is not None:
        assert result.penalties == penalties


def test_weights_come_from_config():
    cfg = ScoreConfig(base=2000, gateway_penalty=100)
    assert score.compute(cfg, ScoreInputs(**{**HEALTHY.__dict__, "network": 0.0})).value == 1900


def test_explain_lists_penalties_largest_first():
    result = score.compute(ScoreConfig(), ScoreInputs(**{**HEALTHY.__dict__, "network": 0.0, "bridge_up": False}))
    assert result.explain() == "1200 (network -1600, management bridge down -600)"


def test_rank_orders_score_then_priority_then_lower_id():
    hosts = {1: (3400, 0), 2: (3400, 5), 3: (3400, 5), 4: (3000, 100)}
    best = max(hosts, key=lambda h: score.rank(*hosts[h], h))
    assert best == 2
