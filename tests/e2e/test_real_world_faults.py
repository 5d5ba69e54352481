"""Issue 12: the Engine comes back after every real-world fault sequence, on the real lab.

Each test starts from the baseline (conftest `steady`), checks the audit's safety rules while the fault
lasts and the whole audit after it. Bounds are polls ("within N s", Lab.wait, scaled on a slower
machine by HE_LAB_TIMEOUT_SCALE); recovery times are recorded for the summary, and benchmarked in
bench/failover.py, never asserted.
"""

import os
import time

import pytest

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.lab import audit, drills
from vdsm_hosted_engine.lab.host import ns_pid

LEASE = f"{constants.LOCKSPACE_NAME.decode()}:{constants.ENGINE_VM_RESOURCE.decode()}:"


def _watch(lab, seconds, check):
    """`check()` about once a second for `seconds`, with the audit's safety rules."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        audit.assert_safe(lab)
        check()
        time.sleep(1)


def _lease_pid(lab, name):
    """The pid (in host `name`) that its sanlock lists as holding the Engine VM lease, or None."""
    status = lab.host(name).run(["sanlock", "client", "status"], timeout=10).stdout
    for line in status.splitlines():
        if line.startswith(f"r {LEASE}"):
            return int(line.split()[-1])
    return None


def _healthy_on(lab, host):
    assert drills.healthy_host(lab) == host, f"the Engine is not healthy on {host} any more"


def _log_from(lab, name, offset):
    path = os.path.join(lab.host(name).dir, "log", "vdsm-hosted-engine.log")
    with open(path, encoding="utf-8", errors="replace") as f:
        f.seek(offset)
        return f.read()


def _log_size(lab, name):
    return os.path.getsize(os.path.join(lab.host(name).dir, "log", "vdsm-hosted-engine.log"))


@pytest.mark.parametrize("back", ["all at once", "one by one"])
def test_a_power_cut_of_every_host_brings_the_engine_back_on_exactly_one_host(steady, back):
    """Given the Engine healthy on the host the others rank last (so it is not the one to restart it),
    when every host loses power at the same instant and power comes back (to all hosts at once, or to
    one host after the other, the Engine's host last),
    then the Engine is healthy again within a bound, on exactly one host (checked every second
    meanwhile), which holds its lease, with one new boot record."""
    drill = "power-cut" if back == "all at once" else "power-cut-one-by-one"
    result = steady.drill(drill, f"power back {back}", timeout=150)
    assert result.boots_after == result.boots_before + 1, "a boot record lost or written twice"
    assert steady.finding.lease_holders == [result.target] == [steady.finding.engine_host]


def test_a_40_s_storage_cut_on_the_engine_host_brings_the_engine_back(steady):
    """Given the Engine healthy on the host the others rank last,
    when that host's storage fails for 40 s (it loses its host id and sanlock stops the Engine VM, but
    comes back before the others may declare it dead),
    then the Engine is healthy again within a bound, on any one host."""
    result = steady.drill("storage-blip", f"storage back after {drills.STORAGE_BLIP:.0f} s", timeout=180)
    assert result.boots_after == result.boots_before + 1
    assert steady.finding.lease_holders == [result.target]


def test_a_100_s_storage_cut_on_every_host_brings_the_engine_back(steady):
    """Given the Engine healthy on one host,
    when every host's storage fails for 100 s (every host loses its host id; the Engine VM stops),
    then once the storage is back the Engine is healthy again within a bound, on exactly one host."""
    lab = steady.lab
    boots = len(steady.boot_ids())
    started = time.monotonic()
    lab.storage_blip("all", 100, lambda: audit.assert_safe(lab))
    restored = time.monotonic()
    host = drills.wait_healthy(lab, 180, watch=True)
    steady.record(f"storage cut on every host for 100 s -> healthy on {host}", time.monotonic() - started,
                  f"{time.monotonic() - restored:.1f} s after the storage came back")  # fmt: skip
    steady.audit(settle=120)
    assert steady.finding.engine_host == host
    assert len(steady.boot_ids()) == boots + 1


def test_libvirtd_and_then_the_daemon_stopped_leave_the_engine_running_with_its_lease(steady):
    """Given the Engine healthy on host A,
    when libvirtd stops on A, and then A's daemon is stopped too (`systemctl stop`: it releases its
    host id unless a lease is held, and with libvirtd gone it cannot ask libvirt whether the VM runs),
    then the Engine VM keeps running on A, its qemu holding the lease in A's sanlock, A keeping its host
    id, no other host starting it; and once both are started again A's agent takes it up, not rebooted."""
    lab = steady.lab
    source = steady.finding.engine_host
    boots = steady.boot_ids()
    qemu = steady.finding.qemu[0][1]
    lab.stop_libvirtd(source)
    audit.assert_safe(lab)
    assert drills.healthy_host(lab) == source
    lab.stop_agent(source)

    def still_there():
        assert audit.qemu_processes(lab) == [(source, qemu)], "the Engine VM's qemu is gone"
        assert _lease_pid(lab, source) == ns_pid(qemu), "the Engine VM's qemu no longer holds its lease"

    _watch(lab, 10, still_there)  # > two ticks of every other agent
    assert drills.healthy_host(lab) == source
    lab.start_libvirtd(source)
    lab.start_agent(source)
    lab.wait(f"{source}'s agent in EngineUp", lambda: lab.call(source, "getScore")["state"] == "EngineUp", 60)
    steady.audit()
    assert steady.finding.qemu == [(source, qemu)]
    assert steady.boot_ids() == boots


def test_a_hung_agent_on_the_engine_host_moves_nothing(steady):
    """Given the Engine healthy on host A,
    when A's daemon hangs (SIGSTOP) for 20 s while A's sanlock keeps renewing its host id,
    then the Engine stays healthy on A, no other host starts it; and once A's daemon runs again
    (SIGCONT) the views agree again, the Engine not rebooted."""
    lab = steady.lab
    source = steady.finding.engine_host
    boots = steady.boot_ids()
    lab.hang_agent(source, True)
    try:
        _watch(lab, 20, lambda: _healthy_on(lab, source))
    finally:
        lab.hang_agent(source, False)
    steady.audit()
    assert steady.finding.engine_host == source
    assert steady.boot_ids() == boots


def test_a_daemon_without_the_hooks_never_runs_the_engine_unleased(steady):
    """Given the Engine VM down and every daemon stopped,
    when every host's daemon starts with an empty hooks directory (vdsm-hook-hosted-engine not
    installed, so nothing would put the sanlock lease into the Engine VM's domxml),
    then each daemon says it will not run the Engine VM without its sanlock lease, and no Engine VM
    runs anywhere meanwhile; once the hooks are back the Engine is healthy again."""
    lab = steady.lab
    names = sorted(lab.hosts)
    for name in names:
        lab.stop_agent(name)
    lab.kill_vm()
    offsets = {name: _log_size(lab, name) for name in names}
    for name in names:
        lab.start_agent(name, hooks=False, wait=False)

    def nothing_runs():
        assert not audit.qemu_processes(lab), "an Engine VM runs though no host has the lease hook"
        assert not audit.lease_holders(lab)

    deadline = time.monotonic() + lab.scaled(90)
    while not all("without its sanlock lease" in _log_from(lab, name, offsets[name]) for name in names):
        assert time.monotonic() < deadline, {name: _log_from(lab, name, offsets[name])[-500:] for name in names}
        nothing_runs()
        time.sleep(1)
    _watch(lab, 5, nothing_runs)
    drills.baseline(lab)  # the hooks back: every daemon restarted with them
    steady.audit()
