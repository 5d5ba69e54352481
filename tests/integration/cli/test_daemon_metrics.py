"""The daemon's Prometheus endpoint, scraped over HTTP while the daemon runs the Engine VM.

Given a fresh domain and a configured host (metrics on a loopback port, plus a node_exporter
textfile), when the daemon has started the Engine VM, then a scrape shows this host in EngineUp
with its score, the VM up and healthy, the lease read, the start counted, cycle and
whiteboard-read histograms filled and every monitor's age; the textfile holds the same series."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cli.test_daemon_cli import tmp_daemon  # noqa: F401 (the fixture)
from tests.integration.conftest import wait_for


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return samples(response.read().decode())


def one(found, name, **labels):
    return found[(name, frozenset(labels.items()))]


def test_metrics_endpoint_shows_the_engine_up_here(tmp_daemon):  # noqa: F811
    _process, conf, tmp_path = tmp_daemon
    port = int(next(line for line in conf.read_text().splitlines() if line.startswith("metrics_port="))[13:])

    def engine_up_in_metrics():
        try:
            found = scrape(port)
        except OSError:
            return None  # not listening yet
        return found if found.get(("hosted_engine_state", frozenset({("state", "EngineUp")}))) == 1 else None

    found = wait_for(engine_up_in_metrics, timeout=90, interval=0.5, what="EngineUp in the metrics")
    assert one(found, "hosted_engine_up") == 1
    assert one(found, "hosted_engine_state", state="EngineDown") == 0
    assert one(found, "hosted_engine_host_score", host_id="1") > 0
    assert one(found, "hosted_engine_engine_vm_status", status="up") == 1
    assert one(found, "hosted_engine_engine_health", health="good") == 1
    # libvirt's test driver runs no qemu, so no process holds the lease: read, and free
    assert one(found, "hosted_engine_lease_owner_host_id") == 0
    assert one(found, "hosted_engine_engine_host_id") in (0, 1)  # 1 once the slot saying so is read back
    assert one(found, "hosted_engine_actions_total", action="start") >= 1
    assert one(found, "hosted_engine_transitions_total", state="EngineUp") >= 1
    assert one(found, "hosted_engine_lost_lease_races_total") == 0
    assert one(found, "hosted_engine_global_maintenance") == 0
    assert one(found, "hosted_engine_cycle_seconds_count") > 0
    assert one(found, "hosted_engine_whiteboard_read_seconds_count") > 0
    ages = {dict(labels)["monitor"] for (name, labels) in found if name == "hosted_engine_monitor_age_seconds"}
    assert {"engine-health", "storage"} <= ages
    assert one(found, "hosted_engine_monitor_fresh", monitor="engine-health") == 1

    textfile = tmp_path / "metrics.prom"
    wait_for(textfile.exists, timeout=30, what="the metrics textfile")
    written = samples(textfile.read_text())
    assert one(written, "hosted_engine_up") == 1 and ("hosted_engine_cycle_seconds_count", frozenset()) in written
