"""The metrics: gauges made from one agent cycle (pure), counters from decisions, the exposition."""

import json
import pathlib
import re

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from vdsm_hosted_engine.ha.fsm import Decision, Memory, State
from vdsm_hosted_engine.ha.metrics import Metrics, View, gauges
from vdsm_hosted_engine.ha.score import Score
from vdsm_hosted_engine.ha.snapshot import Action, ActionKind, ActionResult, Peer, Snapshot
from vdsm_hosted_engine.observations import Health, VmStatus
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.whiteboard import GlobalSlot, HostSlot, Whiteboard


def slot(host_id, score, vm="down", mem="8192", maintenance=False):
    return HostSlot(host_id, 100, score, {"vm": vm}, f"host{host_id}", maintenance, extra={"mem_free_mib": mem})


def engine_up_on_1_with_peers(peer3=Liveness.LIVE):
    """Host 1 runs the Engine; host 2 is a live spare with 8 GiB free; host 3 is in local maintenance."""
    board = Whiteboard(GlobalSlot(), {1: slot(1, 3400, "up"), 2: slot(2, 3000), 3: slot(3, 0, maintenance=True)}, {})
    peers = {2: Peer(2, 3000, Liveness.LIVE), 3: Peer(3, 0, peer3)}
    snapshot = Snapshot(
        now=130.0, host_id=1, score=2800, vm=VmStatus.UP, health=Health.GOOD, peers=peers, lease_owner=1
    )
    decision = Decision(State.ENGINE_UP, (), "no action", True, None, Memory(State.ENGINE_UP, since=100.0), 2800)
    score = Score(2800, (("management bridge down", 600),))
    monitors = {
        "network": {"value": 1.0, "age": 1.5, "fresh": True},
        "bridge": {"value": False, "age": 0.5, "fresh": True},
        "engine-health": {"value": "good", "age": 40.0, "fresh": False},
        "storage": {"value": None, "age": None, "fresh": False},
    }
    return View(1, decision, snapshot, score, board, monitors, vm_mem_mib=4096, joined=True)


def by_name(view):
    found = {}
    for family in gauges(view):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_gauges_of_an_engine_host_with_a_spare_and_a_host_in_maintenance():
    g = by_name(engine_up_on_1_with_peers())
    assert g[("hosted_engine_up", ())] == 1
    assert [g[("hosted_engine_host_score", (("host_id", h),))] for h in "123"] == [2800, 3000, 0]
    assert g[("hosted_engine_score_penalty", (("penalty", "management bridge down"),))] == 600
    assert g[("hosted_engine_state", (("state", "EngineUp"),))] == 1
    assert sum(v for (name, _), v in g.items() if name == "hosted_engine_state") == 1  # one-hot
    assert g[("hosted_engine_state_seconds", ())] == 30
    assert g[("hosted_engine_engine_vm_status", (("status", "up"),))] == 1
    assert g[("hosted_engine_engine_health", (("health", "good"),))] == 1
    assert g[("hosted_engine_engine_host_id", ())] == 1
    assert g[("hosted_engine_lease_owner_host_id", ())] == 1
    assert g[("hosted_engine_failover_hosts", ())] == 1  # host 2 only
    assert g[("hosted_engine_failover_spare_memory_mib", ())] == 8192
    assert g[("hosted_engine_peer_liveness", (("host_id", "3"), ("liveness", "live")))] == 1
    assert g[("hosted_engine_monitor_value", (("monitor", "bridge"),))] == 0
    assert ("hosted_engine_monitor_value", (("monitor", "engine-health"),)) not in g  # not a number
    assert g[("hosted_engine_monitor_age_seconds", (("monitor", "engine-health"),))] == 40
    assert g[("hosted_engine_monitor_fresh", (("monitor", "engine-health"),))] == 0
    assert ("hosted_engine_monitor_age_seconds", (("monitor", "storage"),)) not in g  # no result yet


def test_a_dead_spare_leaves_no_failover_capacity():
    view = engine_up_on_1_with_peers()
    peers = {**view.snapshot.peers, 2: Peer(2, 3000, Liveness.DEAD)}
    view = View(**{**view.__dict__, "snapshot": Snapshot(**{**view.snapshot.__dict__, "peers": peers})})
    g = by_name(view)
    assert g[("hosted_engine_failover_hosts", ())] == 0
    assert g[("hosted_engine_failover_spare_memory_mib", ())] == 0
    assert g[("hosted_engine_peer_liveness", (("host_id", "2"), ("liveness", "dead")))] == 1


def test_before_the_first_cycle_only_up_0_and_an_unreadable_lease_has_no_owner_series():
    empty = View(1, None, None, None, None, {}, 4096, False)
    assert by_name(empty) == {("hosted_engine_up", ()): 0}
    view = engine_up_on_1_with_peers()
    view = View(**{**view.__dict__, "snapshot": Snapshot(**{**view.snapshot.__dict__, "lease_known": False})})
    assert ("hosted_engine_lease_owner_host_id", ()) not in by_name(view)


def test_counters_and_histograms_and_a_valid_exposition(tmp_path):
    view = engine_up_on_1_with_peers()
    metrics = Metrics(lambda: view, textfile=str(tmp_path / "he.prom"))
    down = Decision(State.ENGINE_DOWN, (), "s", True, None, Memory(), 0)
    start = Decision(State.ENGINE_START, (Action(ActionKind.START_VM),), "s", False, None, Memory(), 0)
    alert = Decision(State.ENGINE_START, (Action(ActionKind.ALERT, detail="x"),), "s", False, None, Memory(), 0)
    lost = Snapshot(
        now=1, host_id=1, score=0, vm=VmStatus.DOWN, action_result=ActionResult(ActionKind.START_VM, False, True)
    )
    metrics.decided(down, None)
    metrics.decided(start, None)
    metrics.decided(alert, lost)
    metrics.observe("cycle", 0.02)
    metrics.observe("whiteboard_read", 0.003)
    text = generate_latest(metrics.registry).decode()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert found[("hosted_engine_actions_total", (("action", "start"),))] == 1
    assert found[("hosted_engine_actions_total", (("action", "migrate"),))] == 0
    assert found[("hosted_engine_alerts_total", ())] == 1
    assert found[("hosted_engine_lost_lease_races_total", ())] == 1
    assert found[("hosted_engine_transitions_total", (("state", "EngineStart"),))] == 1
    assert found[("hosted_engine_cycle_seconds_count", ())] == 1
    assert found[("hosted_engine_whiteboard_read_seconds_bucket", (("le", "0.005"),))] == 1
    assert found[("hosted_engine_state", (("state", "EngineUp"),))] == 1  # the gauges, from the view
    assert (tmp_path / "he.prom").read_text().count("hosted_engine_up 1.0") == 1  # written on the first decision


def test_an_unwritable_textfile_is_logged_once(tmp_path, caplog):
    metrics = Metrics(lambda: View(1, None, None, None, None, {}, 4096, False), textfile=str(tmp_path / "no/such.prom"))
    metrics.write_textfile(now=0)
    metrics.write_textfile(now=5)  # within the interval: not tried
    metrics.write_textfile(now=100)
    assert caplog.text.count("cannot write the metrics textfile") == 1


MONITORING = pathlib.Path(__file__).parents[3] / "docs" / "monitoring"


def exported_names():
    metrics = Metrics(engine_up_on_1_with_peers)
    metrics.observe("cycle", 0.1)
    metrics.observe("whiteboard_read", 0.1)
    text = generate_latest(metrics.registry).decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_alert_rules_are_complete_and_use_only_exported_series():
    """promtool (Debian's prometheus package, ~96 MB with a service) is not installed: this checks
    the rules' shape and that every series they name is one the daemon exports."""
    rules = yaml.safe_load((MONITORING / "hosted-engine-alerts.yml").read_text())["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    assert {
        "HostedEngineDown",
        "HostedEngineNoFailoverCapacity",
        "HostedEngineHostStuckInState",
        "HostedEngineWhiteboardLeaseMismatch",
    } <= names
    exported = exported_names()
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning") and rule["annotations"]["summary"]
        used = set(re.findall(r"hosted_engine_[a-z_]+", rule["expr"]))
        assert used and used <= exported, f"{rule['alert']}: {used - exported}"
        for state in re.findall(r'state=~"([^"]+)"', rule["expr"]):
            assert set(state.split("|")) <= {s.value for s in State}


def test_the_grafana_dashboard_uses_only_exported_series():
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exported = exported_names()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = set(re.findall(r"hosted_engine_[a-z_]+", target["expr"]))
            assert used and used <= exported, f"{panel['title']}: {used - exported}"
