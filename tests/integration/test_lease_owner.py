"""The Engine VM lease's owner record after real sequences of faults, on real sanlock daemons.

The owner record stays on disk when its holder's lockspace dies without releasing it (power cut,
storage outage); `live_owner` must judge it as sanlock's own acquire does, or every host waits on a
stale owner forever (issue 12, defect 1)."""

import pytest

from tests.integration.conftest import wait_for
from vdsm_hosted_engine.lab.storage_host import StorageHostError

pytestmark = pytest.mark.integration


def both_live(host):
    view = host.call("hosts")
    return view is not None and view.get("1") == "live" and view.get("2") == "live"


def test_after_a_power_cut_the_old_owner_record_owns_nothing(sanlock_hosts):
    """Given host 1 holds the Engine VM lease, when host 1 loses power and comes back (its host id
    rejoined with a new generation), then the record still names host 1 with its old generation,
    `live_owner` says nobody owns the lease, and sanlock agrees: host 2 acquires it at once."""
    h1, h2 = sanlock_hosts(2)
    h1.call("join", host_id=1)
    h2.call("join", host_id=2)
    wait_for(lambda: both_live(h2), timeout=30, what="both hosts live")
    h1.call("acquire")
    [[owner, generation]] = h2.call("owner_records")
    assert owner == 1
    assert h2.call("live_owner") == 1

    h1.crash()
    h1.power_on()
    h1.call("join", host_id=1)  # sanlock's fast reacquire: same host name, generation + 1
    wait_for(
        lambda: (h2.call("host_leases") or {}).get("1", [None, 0])[1] > generation,
        timeout=30,
        what="host 1's new generation in host 2's view",
    )
    assert h2.call("owner_records") == [[1, generation]]  # the stale record is still on disk
    assert h2.call("live_owner") is None
    # Right after joining, host 1's sanlock cannot list the hosts yet (the cautious answer: the record).
    wait_for(lambda: h1.call("live_owner") is None, timeout=30, what="host 1 sees the stale record own nothing")
    h2.call("acquire")  # sanlock treats the old owner as gone too
    assert h1.call("live_owner") == 2


def test_leaving_the_lockspace_never_kills_a_lease_holder(sanlock_hosts):
    """Given a process on host 1 holds the Engine VM lease (qemu, in production), when host 1 leaves
    the lockspace (the daemon stopping), then sanlock refuses (EBUSY), the holder lives on and
    still owns the lease; once it released, leaving works."""
    (h1,) = sanlock_hosts(1)
    h1.call("join", host_id=1)
    holder = h1.process("qemu")
    try:
        holder.call("acquire")
        with pytest.raises(StorageHostError, match="LockspaceBusy"):
            h1.call("leave", host_id=1)
        assert holder.process.poll() is None
        assert h1.call("holds", host_id=1) is True
        assert h1.call("live_owner") == 1
        holder.call("release")
        h1.call("leave", host_id=1)
        assert h1.call("holds", host_id=1) is False
    finally:
        holder.kill()
