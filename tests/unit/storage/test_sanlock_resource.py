"""Who owns the Engine VM lease: the owner record judged against the lockspace, as sanlock judges it."""

import pytest

from vdsm_hosted_engine.storage.sanlock_lockspace import HostLease, Liveness
from vdsm_hosted_engine.storage.sanlock_resource import LeaseOwner, live_owner

pytestmark = pytest.mark.unit


def hosts(*entries):
    return {h: HostLease(h, generation, 0, 1, liveness) for h, generation, liveness in entries}


@pytest.mark.parametrize(
    "owner, view, expected",
    [
        # The holder renews with the generation it acquired with: it owns the lease.
        ((3, 5), hosts((3, 5, Liveness.LIVE)), 3),
        ((3, 5), hosts((3, 5, Liveness.FAIL)), 3),
        ((3, 5), hosts((3, 5, Liveness.UNKNOWN)), 3),
        # Power cut / storage outage, then the host id rejoined (fast reacquire, generation + 1):
        # the record on disk names a generation that no longer exists.
        ((3, 5), hosts((3, 6, Liveness.LIVE)), None),
        ((3, 5), hosts((3, 9, Liveness.FAIL)), None),
        # Dead or free host ids own nothing; neither does one sanlock does not list.
        ((3, 5), hosts((3, 5, Liveness.DEAD)), None),
        ((3, 5), hosts((3, 5, Liveness.FREE)), None),
        ((3, 5), hosts((1, 1, Liveness.LIVE)), None),
        # sanlock cannot tell yet: the cautious answer is the record.
        ((3, 5), None, 3),
    ],
)
def test_an_owner_counts_only_with_its_current_generation_and_a_live_or_failing_host_id(owner, view, expected):
    found = live_owner([LeaseOwner(owner[0], owner[1], 100)], view)
    assert (found.host_id if found else None) == expected


def test_no_record_means_no_owner():
    assert live_owner([], hosts((1, 1, Liveness.LIVE))) is None
    assert live_owner([], None) is None
