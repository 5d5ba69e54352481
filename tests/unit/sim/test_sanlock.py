"""The simulated sanlock (sim/sanlock.py): the conformance table on the model alone, and what the
conformance suite cannot drive on real daemons here (storage lost on one host, lockspace loss)."""

from __future__ import annotations

import pytest

from tests.integration.test_sanlock_conformance import SEQUENCES, SimDriver, play
from vdsm_hosted_engine.sim.sanlock import AcquireResult, SimSanlock
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness

IO = 1


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_the_simulator_answers_as_real_sanlock_did(name: str) -> None:
    """Every sequence of the conformance table (held to real daemons by
    tests/integration/test_sanlock_conformance.py) answers as the table says on the model."""
    assert play(SimDriver(), SEQUENCES[name]) == []


def joined_pair(kills: list[tuple[int, str]] | None = None) -> tuple[SimDriver, SimSanlock]:
    """Two hosts joined, views ready, host 1's holder holding the lease."""
    driver = SimDriver()
    sanlock = driver.sanlock
    if kills is not None:
        sanlock.on_kill = lambda host_id, reason: kills.append((host_id, reason))
    driver.join(1)
    driver.join(2)
    driver.sleep(2 * IO)
    assert driver.acquire(1) == "ok"
    return driver, sanlock


def test_storage_back_within_8_io_keeps_everything() -> None:
    kills: list[tuple[int, str]] = []
    driver, sanlock = joined_pair(kills)
    sanlock.storage_lost(1)
    driver.sleep(7 * IO)
    assert sanlock.liveness(1) is Liveness.LIVE
    sanlock.storage_back(1)
    driver.sleep(20 * IO)
    assert (kills, sanlock.inq_lockspace(1), sanlock.liveness(1)) == ([], True, Liveness.LIVE)
    assert sanlock.live_owner(2) == 1


def test_8_io_of_failed_renewals_kill_the_holder_and_drop_the_lockspace_the_record_stays() -> None:
    kills: list[tuple[int, str]] = []
    lost: list[int] = []
    driver, sanlock = joined_pair(kills)
    sanlock.on_lockspace_lost = lost.append
    cut = driver.now
    sanlock.storage_lost(1)
    driver.sleep(8 * IO)
    assert (kills, lost, sanlock.inq_lockspace(1)) == ([(1, "lease lost")], [1], False)
    assert [o.host_id for o in sanlock.read_resource_owners()] == [1]
    driver.sleep(0.5)
    assert sanlock.liveness(1) is Liveness.FAIL  # to the others: renewals late, the lease not free
    sanlock.storage_back(1)  # too late: renewals do not resume, the host id keeps aging
    waiting = sanlock.acquire(2)
    assert waiting.outcome is AcquireResult.WAIT
    assert waiting.until == pytest.approx(cut + 8 * IO + 60, abs=0.01)
    driver.advance(waiting.until)
    assert sanlock.liveness(1) is Liveness.DEAD
    assert sanlock.acquire(2).outcome is AcquireResult.OK


def test_a_release_without_storage_leaves_the_record() -> None:
    _, sanlock = joined_pair()
    sanlock.storage_lost(1)
    sanlock.release(1)
    assert [o.host_id for o in sanlock.read_resource_owners()] == [1]
    assert sanlock.acquire(1).outcome is AcquireResult.ERROR


def test_get_hosts_is_unavailable_for_2_io_after_joining() -> None:
    driver = SimDriver()
    driver.join(1)
    assert driver.hosts(1) is None
    driver.sleep(2 * IO)
    assert driver.hosts(1) == {1: ("live", 1)}


def test_add_lockspace_takes_3_io_and_fails_without_storage() -> None:
    driver = SimDriver()
    sanlock = driver.sanlock
    assert sanlock.add_lockspace(1) == 3 * IO
    assert sanlock.inq_lockspace(1) is None
    sanlock.storage_lost(1)
    driver.advance(3 * IO)
    assert (sanlock.add_lockspace_done(1), sanlock.inq_lockspace(1)) == (False, False)


def test_a_live_migration_hands_the_record_over_and_bumps_the_version() -> None:
    _, sanlock = joined_pair()
    version = sanlock.lver
    sanlock.hand_over(1, 2)
    assert (sanlock.live_owner(1), sanlock.lver) == (2, version + 1)
    assert sanlock.rem_lockspace(1) is True  # host 1 holds nothing any more
    assert sanlock.rem_lockspace(2) is False
