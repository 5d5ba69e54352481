"""Two hosts on real sanlock daemons share one storage domain.

Each host is a process bound to its own sanlock daemon, as on real hosts.
"""

import threading
import time
from pathlib import Path

import pytest

from tests.integration.conftest import IO_TIMEOUT, wait_for
from vdsm_hosted_engine import constants
from vdsm_hosted_engine.lab.storage_host import StorageHost, StorageHostError


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
    before = Path(tmp_domain.metadata_path).read_bytes()
    with pytest.raises(StorageHostError, match="HostIdNotHeld: .*does not hold host id 2"):
        h2.call("write_slot", host_id=2)  # host 2 never joined
    with pytest.raises(StorageHostError, match="HostIdNotHeld: .*does not hold host id 2"):
        h1.call("write_slot", host_id=2)  # host 1 holds id 1, not 2
    with pytest.raises(StorageHostError, match="HostIdNotHeld"):
        h2.call("set_global_maintenance", host_id=2, enabled=True)
    assert Path(tmp_domain.metadata_path).read_bytes() == before


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
def test_a_crashed_holders_lease_is_free_only_after_host_dead(sanlock_hosts, tmp_domain, record_property):
    """Given host 1 holds engine-vm, when host 1 crashes (daemon and holder killed at once), then
    host 2 sees host 1 LIVE, then FAIL, then DEAD; host 2's acquire is refused at once (-243) while
    host 1 looks live, blocks inside sanlock while it is failing, and succeeds no earlier than
    host_dead = 8 x io_timeout + 60 s after host 1's last renewal (at most one renewal interval
    before the crash)."""
    h1, h2 = sanlock_hosts(2)
    h1.call("join", host_id=1)
    h2.call("join", host_id=2)
    wait_for(lambda: both_live(h2), timeout=30, what="both hosts live")
    h1.call("acquire")
    # A second process on host 2's daemon, so the blocking acquire and the liveness polling overlap.
    taker = StorageHost(tmp_domain.path, h2.daemon.env, "host2-taker")
    try:
        h1.crash()
        crashed = time.monotonic()
        result = {}
        thread = threading.Thread(target=lambda: result.update(ok=_acquire(taker), at=time.monotonic()))
        thread.start()
        transitions = []

        def dead():
            state = h2.call("hosts").get("1")
            if not transitions or transitions[-1][0] != state:
                transitions.append((state, round(time.monotonic() - crashed, 1)))
            return state == "dead"

        floor = constants.host_dead_seconds(IO_TIMEOUT)
        wait_for(dead, timeout=2 * floor, interval=0.5, what="host 1 dead in host 2's view")
        thread.join(2 * floor)
        assert not thread.is_alive(), "host 2's acquire still blocked after host 1 was dead"
        owners = h2.call("owners")  # while the taker still holds it
    finally:
        taker.kill()
    elapsed = result["at"] - crashed
    record_property("lease_takeover_seconds", round(elapsed, 1))
    print(f"\nhost 1 as seen by host 2: {transitions}; lease taken {elapsed:.1f} s after the crash (floor {floor} s)")
    assert result["ok"] is True
    assert [state for state, _ in transitions][-2:] == ["fail", "dead"]
    assert elapsed >= floor - constants.SANLOCK_RENEWAL_INTERVAL_FACTOR * IO_TIMEOUT
    assert owners == [2]


def _acquire(host, timeout=200):
    """Acquire engine-vm, retrying while sanlock refuses at once (-243: the owner still looks live;
    once the owner is FAIL, sanlock blocks the call until it is DEAD). True, or the last error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            host.call("acquire")
        except StorageHostError as e:
            if e.kind != "LeaseHeldElsewhere" or time.monotonic() > deadline:
                return str(e)
            time.sleep(0.5)
        else:
            return True
