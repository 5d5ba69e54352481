"""The seed's failure table (DESIGN.md section 1), one test per row, on the real lab."""

import time

from vdsm_hosted_engine.lab import audit

from .conftest import SANLOCK_FLOOR


def test_engine_vm_crash_restarts_it_on_the_same_host(steady):
    result = steady.drill("vm-crash")
    assert result.target == result.source
    assert result.boots_after == result.boots_before + 1


def test_engine_unhealthy_restarts_the_vm_after_the_timeout(steady):
    result = steady.drill("engine-unhealthy", "lab bad-health timeout 20 s")
    assert result.boots_after == result.boots_before + 1


def test_management_network_loss_moves_the_engine(steady):
    result = steady.drill("network-loss")
    assert result.target != result.source
    assert steady.finding.engine_host == result.target


def test_when_every_host_lost_the_network_nothing_happens(steady):
    lab = steady.lab
    host = steady.finding.engine_host
    boots = steady.boot_ids()
    lab.set_network("all", False)
    try:
        deadline = time.monotonic() + 30  # > handover hold-down + several ticks
        while time.monotonic() < deadline:
            assert lab.engine_host() == host, "the Engine moved though it could run nowhere better"
            assert not audit.look(lab).safety
            time.sleep(1)
        assert steady.boot_ids() == boots, "the Engine VM was restarted"
    finally:
        lab.set_network("all", True)
    steady.audit()
    assert steady.finding.engine_host == host


def test_host_crash_restarts_the_engine_elsewhere_and_the_host_rejoins(steady):
    lab = steady.lab
    result = steady.drill("host-crash", f"sanlock floor {SANLOCK_FLOOR} s")
    assert result.target != result.source
    assert result.seconds >= SANLOCK_FLOOR - 2, "the Engine started before sanlock could have freed its lease"
    assert result.boots_after == result.boots_before + 1  # no record lost, none written twice
    lab.restart_host(result.source)
    steady.audit()
    assert steady.finding.engine_host == result.target
    assert steady.finding.states[result.source] == "EngineDown"


def test_storage_loss_on_the_engine_host_restarts_the_engine_elsewhere(steady):
    result = steady.drill("storage-loss", f"sanlock floor {SANLOCK_FLOOR} s")
    assert result.target != result.source
    assert result.boots_after == result.boots_before + 1
    steady.audit(settle=120)  # the host got its storage back and rejoined
    assert steady.finding.states[result.source] == "EngineDown"


def test_many_hosts_see_the_engine_down_at_once_and_exactly_one_starts_it(steady):
    lab = steady.lab
    any_host = sorted(lab.hosts)[0]
    steady.maintenance(any_host, "global")
    lab.call(steady.finding.engine_host, "poweroffVM")
    lab.wait("the Engine VM down", lambda: lab.engine_host() is None and not audit.lease_holders(lab), 60)
    started = time.monotonic()
    steady.maintenance(any_host, "none")  # every agent sees the Engine down and no maintenance
    seen = set()
    while time.monotonic() - started < 120 and not steady.healthy():
        finding = audit.look(lab)
        assert not finding.safety, finding.safety
        seen.update(host for host, _ in finding.qemu)
        time.sleep(0.1)
    assert steady.healthy()
    assert len(seen) == 1, f"the Engine VM ran on {seen}"
    steady.record("all agents see the Engine down -> healthy", time.monotonic() - started)
    steady.audit()
