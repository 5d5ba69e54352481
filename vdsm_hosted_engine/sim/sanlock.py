"""The simulated sanlock: one lockspace of host ids and the engine-vm paxos lease, on an explicit clock.

A model of the real daemons (one per host) sharing a lockspace and the Engine VM's lease, answering
as sanlock does, with its timing (io = io_timeout). Each semantic is held to the real daemon by a
sequence of tests/integration/test_sanlock_conformance.py (named in brackets), played on real
daemons and on this model; tests/unit/sim/test_sanlock.py plays the same table on the model alone
and tests what the conformance suite cannot drive on this machine.

Per host id: its generation, whether its delta lease is on disk (joined, not yet left: it stays so
after a crash), whether its daemon holds it now, when it joined, and since when its renewals stopped.

- `add_lockspace` completes after 3 x io; the generation is bumped at every join, including the
  "fast reacquire" of a host id whose daemon died without leaving (same host name): +1
  [join_both_live, crash_rejoin_frees_the_stale_record].
- `rem_lockspace(unused=True)` refuses (EBUSY) while a process of this host holds the lease, and
  nothing dies [leave_unused_while_holding_is_busy]; without `unused` sanlock kills the holder and
  leaves: the killed holder releases nothing, the record stays but owns nothing, its host id being
  free [leave_not_unused_kills_the_holder]. A left host id is FREE: `get_hosts` no longer lists it
  [release_then_leave_is_free, leave_without_holding_is_free].
- `get_hosts(observer)`: None (EAGAIN) for 2 x io after the observer joined, until its renewals have
  read the other leases [join_both_live]; then every host id with a delta lease written, with its
  generation: LIVE while its last renewal is at most 8 x io old, FAIL until 8 x io + 60 s, DEAD
  after [crashed_holder_lease_is_free_once_dead]; a host id that left is not listed.
- `read_resource_owners`: the owner record on disk, (host id, generation at acquire). It stays after
  the holder's lockspace died without a release (crash, lockspace lost)
  [crash_rejoin_frees_the_stale_record].
- `acquire`: refused (ERROR) without the lockspace joined [join_both_live]; ok when the lease is
  free; -243 (HELD) at once while its owner looks LIVE [held_lease_refused]; while the owner is FAIL
  the call blocks until it is DEAD (WAIT, with the time) [crashed_holder_lease_is_free_once_dead];
  an owner whose generation is older than its host id's current one, or whose host id is FREE or
  DEAD, owns nothing (`live_owner`) [crash_rejoin_frees_the_stale_record]. Each acquisition bumps
  the lease version (lver).
- `release` (or the holder exiting) clears the record only if the host can still write: while it
  renews [release_then_leave_is_free]; a holder that dies with its daemon or its storage leaves it.
- Storage lost on a host: its renewals stop (others see it FAIL, then DEAD); storage back before
  8 x io: renewals simply continue. After 8 x io of failed renewals sanlock kills the host's lease
  holders and drops its lockspace; the record stays. Not covered by the conformance suite (cutting
  one daemon's storage needs the lab's FUSE view): the e2e storage drills exercise it on the lab,
  tests/unit/sim/test_sanlock.py pins the model.
- A lease holder that sanlock cannot kill (`kill_fails`: a process stuck in the kernel) is the
  watchdog's case, by sanlock's design, not driven on real daemons here (no watchdog device, no way
  to make SIGKILL fail): leaving the lockspace does not complete while it lives (the host id stays
  held); when renewals failed, the watchdog (wdmd) resets the host before host_dead, which is why
  host_dead holds its 60 s fire timeout.

The model is deterministic and never sleeps: its owner (the World, or a test driver) advances the
clock, completes joins at the time `add_lockspace` returned, and calls `check_renewals` after time
passed. `on_kill(host_id, reason)` is called when sanlock kills the lease holder of a host,
`on_lockspace_lost(host_id)` right after a host's lockspace was dropped for failed renewals.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.storage.sanlock_lockspace import HostLease, Liveness
from vdsm_hosted_engine.storage.sanlock_resource import LeaseOwner, live_owner

logger = logging.getLogger(__name__)

JOIN_IO_TIMEOUTS = 3  # add_lockspace: the delta lease algorithm's reads, waits and writes
VIEW_READY_IO_TIMEOUTS = 2  # get_hosts answers EAGAIN until the first renewals after joining
WATCHDOG_MARGIN = 0.5  # the watchdog resets a host whose holder survived this long before host_dead


class AcquireResult(enum.Enum):
    """How an acquire ends: taken, refused at once (-243), blocked until `until`, or failed."""

    OK = "ok"
    HELD = "held"
    WAIT = "wait"
    ERROR = "error"


@dataclass(frozen=True)
class Acquire:
    outcome: AcquireResult
    until: float = 0.0  # WAIT: when the owner will be dead (then try again)
    error: str = ""


@dataclass
class HostIdState:
    """One host id in the lockspace, and the daemon of the host using it."""

    host_id: int
    daemon: bool = False  # the host's sanlock daemon runs
    storage_ok: bool = True  # the daemon's I/O to the shared storage works
    generation: int = 0  # bumped at every join
    on_disk: bool = False  # its delta lease is written (stays after a crash, until it rejoins or leaves)
    held: bool = False  # its daemon holds the host id now
    joining_since: float | None = None  # add_lockspace under way
    joined_at: float = 0.0
    renew_stopped_at: float | None = None  # None while renewing
    holding: bool = False  # a process on this host holds the engine-vm lease
    kill_fails: bool = False  # fault: sanlock's kill of the lease holder does not take (defence in depth)

    @property
    def renewing(self) -> bool:
        return self.daemon and self.held and self.storage_ok


def _ignore_kill(host_id: int, reason: str) -> None:
    """Default `on_kill`: nobody to tell."""


def _ignore_loss(host_id: int) -> None:
    """Default `on_lockspace_lost`: nobody to tell."""


def _ignore_reset(host_id: int, when: float) -> None:
    """Default `on_reset`: nobody to reset."""


class SimSanlock:
    """Every host's sanlock daemon, one lockspace and the engine-vm lease; see the module docstring."""

    def __init__(
        self,
        host_ids: Iterable[int],
        io_timeout: int,
        clock: Callable[[], float],
        on_kill: Callable[[int, str], None] = _ignore_kill,
        on_lockspace_lost: Callable[[int], None] = _ignore_loss,
        on_reset: Callable[[int, float], None] = _ignore_reset,
    ) -> None:
        self.io_timeout = io_timeout
        self.clock = clock
        self.on_kill = on_kill
        self.on_lockspace_lost = on_lockspace_lost
        self.on_reset = on_reset
        self.ids = {h: HostIdState(h) for h in host_ids}
        self.record: LeaseOwner | None = None  # the engine-vm owner record on disk
        self.lver = 0  # the lease version: bumped at every acquisition

    # -- timing ---------------------------------------------------------------------------------

    @property
    def fail_seconds(self) -> float:
        """Renewals missing this long: others see FAIL, and the host's own daemon gives up."""
        return constants.SANLOCK_RENEWAL_FAIL_FACTOR * self.io_timeout

    def age(self, host_id: int) -> float:
        """Seconds since the host id's last renewal (0 while renewing)."""
        state = self.ids[host_id]
        if state.renewing:
            return 0.0
        now = self.clock()
        stopped = state.renew_stopped_at if state.renew_stopped_at is not None else now
        return now - stopped

    def liveness(self, host_id: int) -> Liveness:
        """The host id as every other host sees it (sanlock's host_status flags)."""
        state = self.ids[host_id]
        if not state.on_disk:
            return Liveness.FREE
        age = self.age(host_id)
        if age <= self.fail_seconds:
            return Liveness.LIVE
        if age <= constants.host_dead_seconds(self.io_timeout):
            return Liveness.FAIL
        return Liveness.DEAD

    def dead_at(self, host_id: int) -> float:
        """When the host id is (or will be) DEAD if it does not renew again."""
        state = self.ids[host_id]
        now = self.clock()
        stopped = state.renew_stopped_at if state.renew_stopped_at is not None else now
        return stopped + constants.host_dead_seconds(self.io_timeout) + 0.001

    def lease(self, host_id: int) -> HostLease:
        return HostLease(host_id, self.ids[host_id].generation, 0, self.io_timeout, self.liveness(host_id))

    def renewing(self, host_id: int) -> bool:
        return self.ids[host_id].renewing

    # -- the host: daemon and storage -----------------------------------------------------------

    def daemon_start(self, host_id: int) -> None:
        """The host powered on: a fresh daemon, holding nothing."""
        self.ids[host_id].daemon = True

    def daemon_kill(self, host_id: int) -> None:
        """The host lost power: its daemon and lease holders die at once; its delta lease and the
        owner record stay on disk, aging from now."""
        state = self.ids[host_id]
        if state.held and state.renew_stopped_at is None:
            state.renew_stopped_at = self.clock()
        state.daemon = state.held = state.holding = False
        state.joining_since = None

    def storage_lost(self, host_id: int) -> None:
        """The host's I/O to the storage fails: its renewals stop."""
        state = self.ids[host_id]
        state.storage_ok = False
        if state.renew_stopped_at is None and state.held:
            state.renew_stopped_at = self.clock()

    def storage_back(self, host_id: int) -> None:
        """Storage back before sanlock gave the lockspace up: renewals simply continue."""
        state = self.ids[host_id]
        state.storage_ok = True
        if state.renewing:
            state.renew_stopped_at = None

    def check_renewals(self) -> list[int]:
        """A host that could not renew for 8 x io: sanlock kills its lease holders and drops its
        lockspace; the record stays. Returns the host ids that lost their lockspace now."""
        lost = []
        now = self.clock()
        for state in self.ids.values():
            stopped = state.renew_stopped_at
            if state.daemon and state.held and stopped is not None and now - stopped >= self.fail_seconds:
                self._kill_holder(state.host_id, "lease lost")
                state.held = False
                lost.append(state.host_id)
                logger.debug("host %d lost the lockspace (renewals failed)", state.host_id)
                self.on_lockspace_lost(state.host_id)
        return lost

    # -- the lockspace --------------------------------------------------------------------------

    def add_lockspace(self, host_id: int) -> float:
        """Start joining with the host's own id; returns when it completes (3 x io from now): the
        caller calls `add_lockspace_done` then."""
        self.ids[host_id].joining_since = self.clock()
        return self.clock() + JOIN_IO_TIMEOUTS * self.io_timeout

    def add_lockspace_done(self, host_id: int) -> bool:
        """The join completes: False if the daemon died or cannot reach the storage; otherwise the
        host id is held with generation + 1 and renews from now."""
        state = self.ids[host_id]
        state.joining_since = None
        if not state.daemon or not state.storage_ok:
            return False
        state.held = state.on_disk = True
        state.joined_at = self.clock()
        state.generation += 1
        state.renew_stopped_at = None
        logger.debug("host %d joined the lockspace (generation %d)", host_id, state.generation)
        return True

    def rem_lockspace(self, host_id: int, unused: bool = True) -> bool:
        """Leave: False (EBUSY) when `unused` and a process here holds the lease; otherwise kill the
        holder (its lease released while the host can write), free the host id, True. A holder that
        does not die (`kill_fails`) keeps the host id held: sanlock frees it only once its holders
        are gone (False)."""
        state = self.ids[host_id]
        if not state.held:
            return True
        if state.holding and (unused or state.kill_fails):
            return False
        state.held = state.on_disk = False
        state.renew_stopped_at = None
        self._kill_holder(host_id, "lockspace removed")
        return True

    def inq_lockspace(self, host_id: int) -> bool | None:
        """Whether the host's daemon holds its id; None while joining."""
        state = self.ids[host_id]
        if state.joining_since is not None:
            return None
        return state.held

    def get_hosts(self, observer: int) -> dict[int, HostLease] | None:
        """get_hosts on `observer`'s daemon: every host id with a delta lease on disk (not one that
        left), with its current generation; None (EAGAIN) until the observer's first renewals after
        joining."""
        state = self.ids[observer]
        if not state.renewing or self.clock() < state.joined_at + VIEW_READY_IO_TIMEOUTS * self.io_timeout:
            return None
        return {h: self.lease(h) for h, s in self.ids.items() if s.on_disk}

    # -- the engine-vm lease --------------------------------------------------------------------

    def read_resource_owners(self) -> list[LeaseOwner]:
        """The owner record on disk (stays after its holder died without releasing)."""
        return [] if self.record is None else [self.record]

    def live_owner(self, observer: int) -> int | None:
        """`live_owner` of the record as `observer`'s view judges it."""
        owner = live_owner(self.read_resource_owners(), self.get_hosts(observer))
        return owner.host_id if owner else None

    def holder(self) -> int | None:
        """Whom sanlock's acquire treats as the holder: the record judged on the true state of every
        host id (`live_owner`)."""
        owner = live_owner(self.read_resource_owners(), {h: self.lease(h) for h in self.ids})
        return owner.host_id if owner else None

    def acquire(self, host_id: int) -> Acquire:
        """A process on `host_id` acquires the lease; see the module docstring."""
        state = self.ids[host_id]
        if not state.daemon or not state.storage_ok:
            return Acquire(AcquireResult.ERROR, error="storage unavailable")
        if not state.held:
            return Acquire(AcquireResult.ERROR, error="lockspace not joined")
        holder = self.holder()
        if holder is not None and holder != host_id:
            if self.liveness(holder) is Liveness.LIVE:
                return Acquire(AcquireResult.HELD, error="-243")
            return Acquire(AcquireResult.WAIT, until=self.dead_at(holder))
        self.record = LeaseOwner(host_id, state.generation, 0)
        self.lver += 1
        state.holding = True
        return Acquire(AcquireResult.OK)

    def release(self, host_id: int) -> None:
        """The holder on `host_id` releases (or exits): the record is cleared if the host can still
        write it, i.e. while it renews."""
        state = self.ids[host_id]
        state.holding = False
        if self.record is not None and self.record.host_id == host_id and state.renewing:
            self.record = None

    def hand_over(self, source: int, target: int) -> None:
        """Live migration: the target's process acquires as the source's releases."""
        self.ids[source].holding = False
        self.ids[target].holding = True
        self.record = LeaseOwner(target, self.ids[target].generation, 0)
        self.lver += 1

    def _kill_holder(self, host_id: int, reason: str) -> None:
        """sanlock kills the holder; a killed holder releases nothing: the record stays. With the
        `kill_fails` fault the process survives, holding nothing sanlock honours; then the watchdog
        (wdmd), no longer fed for that lockspace, resets the host before the others may take its
        leases: host_dead's 60 s are the watchdog's fire timeout (`on_reset(host_id, when)`)."""
        state = self.ids[host_id]
        if state.holding:
            state.holding = False
            if state.kill_fails:
                logger.debug("host %d: sanlock could not kill the lease holder (%s)", host_id, reason)
                self.on_reset(host_id, self.dead_at(host_id) - WATCHDOG_MARGIN)
                return
            self.on_kill(host_id, reason)

    def daemon_restart(self, host_id: int) -> None:
        """`systemctl restart sanlock` (`shutdown -f`): holders killed, lockspaces left (the host id
        free), a fresh daemon holding nothing."""
        state = self.ids[host_id]
        if state.held:
            self.rem_lockspace(host_id, unused=False)
        state.joining_since = None
        state.daemon = True
