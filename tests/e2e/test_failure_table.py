"""The seed's failure table (DESIGN.md section 1), one test per row, on the real lab."""

import time

from vdsm_hosted_engine.lab import audit

from .conftest import SANLOCK_FLOOR


def test_engine_vm_crash_restarts_it_on_the_same_host(steady):
    lab = steady.lab
    host = steady.finding.engine_host
    boots = steady.boot_ids()
    started = time.monotonic()
    assert lab.kill_vm() == host
    assert steady.wait_healthy(120) == host
    steady.record("Engine VM crash -> healthy again (same host)", time.monotonic() - started)
    steady.audit()
    after = steady.boot_ids()
    assert after[: len(boots)] == boots and len(after) == len(boots) + 1


def test_engine_unhealthy_restarts_the_vm_after_the_timeout(steady):
    lab = steady.lab
    boots = steady.boot_ids()
    started = time.monotonic()
    assert lab.set_engine_health(False) == "unhealthy"
    lab.wait("a fresh boot of the Engine", lambda: len(steady.boot_ids()) > len(boots), 180, 0.5)
    steady.wait_healthy(120)
    steady.record("Engine unhealthy -> healthy again", time.monotonic() - started, "lab bad-health timeout 20 s")
    steady.audit()


def test_management_network_loss_moves_the_engine(steady):
    lab = steady.lab
    source = steady.finding.engine_host
    started = time.monotonic()
    lab.set_network(source, False)
    target = steady.wait_healthy(180, where=lambda host: host != source)
    steady.record("management network loss -> healthy on another host", time.monotonic() - started)
    steady.audit()
    assert steady.finding.engine_host == target != source


def test_when_every_host_lost_the_network_nothing_happens(steady):
    lab = steady.lab
    host = steady.finding.engine_host
    boots = steady.boot_ids()
    lab.set_network("all", False)
    try:
        deadline = time.monotonic() + 30  # > handover hold-down + several ticks
        while time.monotonic() < deadline:
            assert lab.engine_host() == host, "the Engine moved though it could run nowhere better"
            audit.look(lab)  # safety
            time.sleep(1)
        assert steady.boot_ids() == boots, "the Engine VM was restarted"
    finally:
        lab.set_network("all", True)
    steady.audit()
    assert steady.finding.engine_host == host


def test_host_crash_restarts_the_engine_elsewhere_and_the_host_rejoins(steady):
    lab = steady.lab
    source = steady.finding.engine_host
    boots = steady.boot_ids()
    started = time.monotonic()
    lab.crash_host(source)
    target = steady.wait_healthy(240, where=lambda host: host != source)
    elapsed = time.monotonic() - started
    steady.record("host crash -> healthy on another host", elapsed, f"sanlock floor {SANLOCK_FLOOR} s")
    assert elapsed >= SANLOCK_FLOOR - 2, "the Engine started before sanlock could have freed its lease"
    steady.audit()
    assert steady.boot_ids()[: len(boots)] == boots  # no record lost, none written twice
    lab.restart_host(source)
    steady.audit()
    assert steady.finding.engine_host == target
    assert steady.finding.states[source] == "EngineDown"


def test_many_hosts_see_the_engine_down_at_once_and_exactly_one_starts_it(steady):
    lab = steady.lab
    any_host = sorted(lab.hosts)[0]
    steady.maintenance(any_host, "global")
    lab.call(steady.finding.engine_host, "poweroffVM")
    lab.wait("the Engine VM down", lambda: lab.engine_host() is None and not audit.lease_holders(lab), 60)
    started = time.monotonic()
    steady.maintenance(any_host, "none")  # every agent sees the Engine down and no maintenance
    seen = set()
    while time.monotonic() - started < 60 and not steady.healthy():
        finding = audit.look(lab)
        assert not finding.safety, finding.safety
        seen.update(host for host, _ in finding.qemu)
        time.sleep(0.1)
    assert steady.healthy()
    assert len(seen) == 1, f"the Engine VM ran on {seen}"
    steady.record("all agents see the Engine down -> healthy", time.monotonic() - started)
    steady.audit()
