"""Live migration of the Engine VM on the real lab (issue 7): the triggers, the guest not rebooted,
the health page answering but for a short gap, the lease moving with the VM; and the refusals."""

import time

import pytest

from vdsm_hosted_engine.lab import audit, drills
from vdsm_hosted_engine.storage.whiteboard import info_from_text


def _needs_cgroups(lab):
    if not all(h.cgroups for h in lab.hosts.values()):
        pytest.skip("this machine gives the lab hosts no cgroups of their own: no per-host CPU load")


def _check(steady, result):
    assert result.target != result.source
    assert result.boots_after == result.boots_before, "the guest was rebooted (a new boot record)"
    assert result.pause is not None and result.pause < 1.0, f"the Engine did not answer for {result.pause:.2f} s"
    libvirt = f", libvirt downtime {result.downtime:.2f} s" if result.downtime is not None else ""
    steady.record(
        f"{result.drill}: {result.source} -> {result.target}",
        result.seconds,
        f"probe gap {result.pause:.2f} s{libvirt}",
    )
    finding = audit.look(steady.lab)
    assert finding.lease_holders == [result.target] == [finding.engine_host]


def test_cpu_pressure_on_the_engine_host_live_migrates_the_engine(steady):
    _needs_cgroups(steady.lab)
    _check(steady, drills.migrate(steady.lab, "cpu"))


def test_local_maintenance_evacuates_the_engine_by_live_migration(steady):
    _check(steady, drills.migrate(steady.lab, "local-maintenance"))


def test_an_admin_request_live_migrates_the_engine(steady):
    _check(steady, drills.migrate(steady.lab, "request"))


def test_a_destination_reading_a_different_lease_file_is_refused(steady):
    lab = steady.lab
    source = steady.finding.engine_host
    odd = next(h for h in sorted(lab.hosts) if h != source)
    odd_id = lab.host_ids[odd]
    lab.set_lease_swap(odd, True)
    try:
        lab.wait(
            f"{odd} publishing what it reads",
            lambda: info_from_text(lab.call(source, "getStatus")[str(odd_id)]["extra"])["identity"].endswith(":0"),
            30,
        )
        host = lab.host(source)
        refused = host.run(
            host.python("vdsm_hosted_engine.cli.hosted_engine", "--vm-migrate", f"--host-id={odd_id}"), check=False
        )
        assert refused.returncode == 1 and "refused" in refused.stderr, refused.stderr
        assert lab.engine_host() == source
        assert not audit.look(lab).safety
    finally:
        lab.set_lease_swap(odd, False)
    steady.audit()
    assert steady.finding.engine_host == source


def test_a_destination_killed_mid_migration_leaves_the_engine_on_the_source(steady):
    lab = steady.lab
    source = steady.finding.engine_host
    target = next(h for h in sorted(lab.hosts) if h != source)
    boots = steady.boot_ids()
    lab.slow_migrations(target, True)  # the incoming migration waits in libvirt's qemu hook
    try:
        lab.call(source, "migrateVM", {"hostId": lab.host_ids[target]})
        lab.wait("the migration running", lambda: lab.call(source, "getScore")["state"] == "EngineMigratingAway",
                 30, 0.05)  # fmt: skip
        time.sleep(0.5)
        lab.crash_host(target)
        lab.wait("the migration over", lambda: lab.call(source, "getScore")["state"] != "EngineMigratingAway", 120)
    finally:
        lab.slow_migrations(target, False)
    assert lab.engine_host() == source
    assert audit.look(lab).lease_holders == [source]
    assert steady.boot_ids() == boots
    steady.audit()
