"""Two hosts on real sanlock daemons share one storage domain.

Each host is a process bound to its own sanlock daemon, as on real hosts.
"""

import time

import pytest

from tests.integration.conftest import IO_TIMEOUT, wait_for
from vdsm_hosted_engine import constants
from vdsm_hosted_engine.lab.storage_host import StorageHostError


def both_live(host):
    view = host.call("hosts")
    return view is not None and view.get("1") == "live" and view.get("2") == "live"


def test_two_hosts_join_publish_and_read_each_other(sanlock_hosts):
    """Given two hosts joined to the lockspace, when each writes its slot, then both read both."""
    h1, h2 = sanlock_hosts(2)
    assert h1.call("holds", host_id=1) is False
    h1.call("join", host_id=1)
    h2.call("join", host_id=2)
    assert h1.call("holds", host_id=1) is True
    assert h2.call("holds", host_id=1) is False  # host 2's daemon does not hold id 1
    wait_for(lambda: both_live(h1) and both_live(h2), timeout=30, what="both hosts live in both views")

    h1.call("write_slot", host_id=1, score=3400, hostname="host1", extra={"priority": "5"})
    h2.call("write_slot", host_id=2, score=1800, hostname="host2")
    for host in (h1, h2):
        view = host.call("read")
        assert (view["1"]["score"], view["1"]["hostname"]) == (3400, "host1")
        assert (view["2"]["score"], view["2"]["hostname"]) == (1800, "host2")
        assert "priority=5\n" in view["1"]["extra"]
        assert view["invalid_slots"] == {}

    h2.call("set_global_maintenance", host_id=2, enabled=True)
    assert h1.call("read")["global_maintenance"] is True


def test_a_write_without_the_host_id_is_refused(sanlock_hosts, tmp_domain):
    h1, h2 = sanlock_hosts(2)
    h1.call("join", host_id=1)
    before = open(tmp_domain.metadata_path, "rb").read()
    with pytest.raises(StorageHostError, match="HostIdNotHeld: .*does not hold host id 2"):
        h2.call("write_slot", host_id=2)  # host 2 never joined
    with pytest.raises(StorageHostError, match="HostIdNotHeld: .*does not hold host id 2"):
        h1.call("write_slot", host_id=2)  # host 1 holds id 1, not 2
    with pytest.raises(StorageHostError, match="HostIdNotHeld"):
        h2.call("set_global_maintenance", host_id=2, enabled=True)
    assert open(tmp_domain.metadata_path, "rb").read() == before


def test_the_engine_vm_lease_has_one_holder(sanlock_hosts):
    """Given host 1 holds engine-vm, host 2 cannot take it, and sees host 1 as the owner."""
    h1, h2 = sanlock_hosts(2)
    h1.call("join", host_id=1)
    h2.call("join", host_id=2)
    h1.call("acquire")
    with pytest.raises(StorageHostError, match="LeaseHeldElsewhere"):
        h2.call("acquire")
    assert h2.call("owners") == [1]
    h1.call("release")
    h2.call("acquire")
    assert h1.call("owners") == [2]


@pytest.mark.slow
def test_a_crashed_holders_lease_is_free_only_after_host_dead(sanlock_hosts, record_property):
    """Given host 1 holds engine-vm, when host 1 crashes (daemon and holder killed), then host 2 gets
    the lease, and not before sanlock's host_dead time (8 x io_timeout + 60 s after host 1's last
    renewal, which happened at most one renewal interval before the crash)."""
    h1, h2 = sanlock_hosts(2)
    h1.call("join", host_id=1)
    h2.call("join", host_id=2)
    wait_for(lambda: both_live(h2), timeout=30, what="both hosts live")
    h1.call("acquire")
    h1.crash()
    crashed = time.monotonic()
    floor = constants.host_dead_seconds(IO_TIMEOUT)
    seen = set()

    def acquired():
        seen.add(h2.call("hosts").get("1"))
        try:
            h2.call("acquire")
        except StorageHostError as e:
            assert e.kind in ("LeaseHeldElsewhere", "SanlockError"), e
            return False
        return True

    wait_for(acquired, timeout=3 * floor, interval=0.5, what="host 2 acquiring engine-vm")
    elapsed = time.monotonic() - crashed
    record_property("failover_seconds", round(elapsed, 1))
    print(f"\nengine-vm lease taken by host 2 {elapsed:.1f} s after host 1 crashed (host_dead {floor} s)")
    assert elapsed >= floor - constants.SANLOCK_RENEWAL_INTERVAL_FACTOR * IO_TIMEOUT
    assert "dead" in seen or "fail" in seen
    assert h2.call("owners") == [2]
