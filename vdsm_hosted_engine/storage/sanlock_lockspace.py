"""The `hosted-engine` lockspace: this host's id lease and every host's liveness, from sanlock.

sanlock is the source of truth for liveness: `get_hosts` says LIVE / FAIL / DEAD / FREE for each host
id, from the same delta-lease timestamps that decide when a dead host's paxos leases may be taken.

libsanlock talks to the daemon named by SANLOCK_RUN_DIR, read once per process: one process talks to
one host's daemon (the lab and the tests run one process per simulated host).

Every sanlock failure is raised as our SanlockError with sanlock's errno and message.
"""

from __future__ import annotations

import contextlib
import enum
import errno as errno_
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sanlock

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import LeaseHeldElsewhere, LockspaceBusy, SanlockError

logger = logging.getLogger(__name__)

# sanlock's "Lease is held by another host" (SANLK_ACQUIRE_IDLIVE and friends report -243).
SANLK_ACQUIRE_IDLIVE = 243


class Liveness(enum.Enum):
    """A host id's state as sanlock sees it (sanlock's HOST_* flags)."""

    UNKNOWN = "unknown"  # sanlock has not seen enough renewals to say
    FREE = "free"  # no host holds this id
    LIVE = "live"  # renewing on time
    FAIL = "fail"  # renewals late; its leases are not free yet
    DEAD = "dead"  # past host_dead: its leases may be taken


_FLAGS = {
    sanlock.HOST_UNKNOWN: Liveness.UNKNOWN,
    sanlock.HOST_FREE: Liveness.FREE,
    sanlock.HOST_LIVE: Liveness.LIVE,
    sanlock.HOST_FAIL: Liveness.FAIL,
    sanlock.HOST_DEAD: Liveness.DEAD,
}


@dataclass(frozen=True)
class HostLease:
    """One host id's delta lease as sanlock last read it."""

    host_id: int
    generation: int
    timestamp: int
    io_timeout: int
    liveness: Liveness


@dataclass(frozen=True)
class LockspaceInfo:
    name: bytes
    io_timeout: int


@contextlib.contextmanager
def sanlock_errors(operation: str) -> Iterator[None]:
    """Turn sanlock.SanlockException into our SanlockError (LeaseHeldElsewhere for -243)."""
    try:
        yield
    except sanlock.SanlockException as e:
        code = e.errno if isinstance(e.errno, int) else 0
        message = e.args[1] if len(e.args) > 1 else str(e)
        if len(e.args) > 2 and e.args[2]:
            message = f"{message}: {e.args[2]}"
        if abs(code) == SANLK_ACQUIRE_IDLIVE:
            raise LeaseHeldElsewhere(operation, code, message) from None
        raise SanlockError(operation, code, message) from None


def host_lease(entry: dict[str, Any]) -> HostLease:
    return HostLease(
        host_id=int(entry["host_id"]),
        generation=int(entry["generation"]),
        timestamp=int(entry["timestamp"]),
        io_timeout=int(entry["io_timeout"]),
        liveness=_FLAGS.get(entry["flags"], Liveness.UNKNOWN),
    )


class Lockspace:
    """The lockspace file of a storage domain, as seen through this host's sanlock daemon."""

    def __init__(self, path: str, name: bytes = constants.LOCKSPACE_NAME) -> None:
        self.path = path
        self.name = name

    def __repr__(self) -> str:
        return f"Lockspace({self.name.decode()!r}, {self.path!r})"

    def initialize(self, io_timeout: int) -> None:
        """Write a fresh lockspace. Only while no host has joined: re-initialising one in use makes
        every host drop it (ENVIRONMENT.md); the domain refuses to do it over an existing domain."""
        with sanlock_errors("write_lockspace"):
            sanlock.write_lockspace(
                self.name,
                self.path,
                offset=0,
                max_hosts=constants.MAX_HOST_ID,
                iotimeout=io_timeout,
                align=constants.SANLOCK_ALIGNMENT,
                sector=constants.SANLOCK_SECTOR,
            )
        logger.info("initialised lockspace %s in %s (io_timeout %d s)", self.name.decode(), self.path, io_timeout)

    def read(self) -> LockspaceInfo:
        with sanlock_errors("read_lockspace"):
            info = sanlock.read_lockspace(
                self.path, offset=0, align=constants.SANLOCK_ALIGNMENT, sector=constants.SANLOCK_SECTOR
            )
        return LockspaceInfo(info["lockspace"], int(info["iotimeout"]))

    def join(self, host_id: int, wait: bool = True) -> None:
        """Acquire `host_id` (blocks ~3 x io_timeout when `wait`); a no-op when already held.

        The io_timeout is the one stored in the lockspace, so every host renews on the same clock.
        """
        if self.holds(host_id):
            return
        info = self.read()
        if info.name != self.name:
            raise SanlockError(
                "add_lockspace", errno_.EINVAL, f"{self.path} holds lockspace {info.name!r}, not {self.name!r}"
            )
        logger.info("joining lockspace %s as host id %d", self.name.decode(), host_id)
        with sanlock_errors("add_lockspace"):
            sanlock.add_lockspace(self.name, host_id, self.path, offset=0, iotimeout=info.io_timeout, wait=wait)

    def leave(self, host_id: int, wait: bool = True, unused: bool = True) -> None:
        """Release `host_id`. With `unused` (the default) sanlock refuses with EBUSY (raised as
        LockspaceBusy) while any process holds a lease in the lockspace, so leaving can never kill
        the Engine VM; `unused=False` would make sanlock kill the lease holders first."""
        if self.holds(host_id) is False:
            return
        logger.info("leaving lockspace %s (host id %d)", self.name.decode(), host_id)
        try:
            with sanlock_errors("rem_lockspace"):
                sanlock.rem_lockspace(self.name, host_id, self.path, offset=0, wait=wait, unused=unused)
        except SanlockError as e:
            if unused and abs(e.errno) == errno_.EBUSY:
                raise LockspaceBusy(host_id) from None
            raise

    def holds(self, host_id: int) -> bool | None:
        """True when this host's daemon holds `host_id`; None while joining or leaving."""
        with sanlock_errors("inq_lockspace"):
            return sanlock.inq_lockspace(self.name, host_id, self.path, offset=0)

    def hosts(self) -> dict[int, HostLease] | None:
        """Every host id sanlock knows in this lockspace, or None when it cannot tell yet (right after
        joining, until its first renewal has read the other hosts' leases)."""
        try:
            with sanlock_errors("get_hosts"):
                entries = sanlock.get_hosts(self.name)
        except SanlockError as e:
            if abs(e.errno) == errno_.EAGAIN:
                return None
            raise
        return {lease.host_id: lease for lease in map(host_lease, entries)}
