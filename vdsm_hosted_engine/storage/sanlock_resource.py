"""The `engine-vm` paxos lease: the one thing that keeps the Engine VM from running twice.

libvirt's sanlock lock plugin acquires it when qemu starts (the `<lease>` element our hook puts in the
domxml) and sanlock kills qemu if it is lost; our code only initialises it and asks who owns it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sanlock

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.storage.sanlock_lockspace import HostLease, Liveness, sanlock_errors

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResourceInfo:
    """What the lease area says about itself: names and the lease version (bumped per acquire)."""

    lockspace: bytes
    resource: bytes
    version: int


@dataclass(frozen=True)
class LeaseOwner:
    """The owner record on disk: the host id and its lockspace generation when it acquired."""

    host_id: int
    generation: int
    timestamp: int


def live_owner(owners: Sequence[LeaseOwner], hosts: Mapping[int, HostLease] | None) -> LeaseOwner | None:
    """The owner that still holds the lease, judged as sanlock's own acquire judges it (pure).

    The owner record stays on disk after its holder's lockspace died without releasing (a power cut,
    a storage outage long enough for sanlock to drop the lockspace). When that host id rejoins, its
    generation is bumped ("fast reacquire"), and sanlock lets anyone take the lease: an owner whose
    generation is older than its host id's current one, or whose host id is FREE or DEAD, owns
    nothing. `hosts` None (sanlock cannot tell yet): every owner counts, the cautious answer.
    """
    for owner in owners:
        if hosts is None:
            return owner
        lease = hosts.get(owner.host_id)
        if lease is None or lease.liveness in (Liveness.FREE, Liveness.DEAD):
            continue
        if lease.generation > owner.generation:
            continue
        return owner
    return None


class EngineVmLease:
    """The Engine VM's lease file on the storage domain (one lease at offset 0)."""

    def __init__(
        self,
        path: str,
        lockspace: bytes = constants.LOCKSPACE_NAME,
        resource: bytes = constants.ENGINE_VM_RESOURCE,
    ) -> None:
        self.path = path
        self.lockspace = lockspace
        self.resource = resource

    def __repr__(self) -> str:
        return f"EngineVmLease({self.lockspace.decode()}:{self.resource.decode()}, {self.path!r})"

    @property
    def disks(self) -> list[tuple[str, int]]:
        return [(self.path, 0)]

    @property
    def offset(self) -> int:
        return 0

    def initialize(self) -> None:
        with sanlock_errors("write_resource"):
            sanlock.write_resource(
                self.lockspace,
                self.resource,
                self.disks,
                max_hosts=constants.MAX_HOST_ID,
                align=constants.SANLOCK_ALIGNMENT,
                sector=constants.SANLOCK_SECTOR,
            )
        logger.info("initialised lease %s:%s in %s", self.lockspace.decode(), self.resource.decode(), self.path)

    def read(self) -> ResourceInfo:
        with sanlock_errors("read_resource"):
            info = sanlock.read_resource(
                self.path, offset=0, align=constants.SANLOCK_ALIGNMENT, sector=constants.SANLOCK_SECTOR
            )
        return ResourceInfo(info["lockspace"], info["resource"], int(info["version"]))

    def owners(self) -> list[LeaseOwner]:
        """The hosts the lease names as owner, unfiltered: an owner may be failing or dead; join
        with the lockspace's liveness to judge."""
        with sanlock_errors("read_resource_owners"):
            entries = sanlock.read_resource_owners(
                self.lockspace,
                self.resource,
                self.disks,
                align=constants.SANLOCK_ALIGNMENT,
                sector=constants.SANLOCK_SECTOR,
            )
        return [LeaseOwner(int(e["host_id"]), int(e["generation"]), int(e["timestamp"])) for e in entries]
