"""The one interface between the agent and the world (real in `ha/real_env.py`, simulated in `sim/`).

Every method is called by the agent's loop thread only, except `wake()`, which any thread (libvirt
event callbacks, the RPC server, hook notifications) may call. Slow actions run off the loop: the
env starts them (`begin`) and reports how they ended (`action_status`) on a later tick.
"""

from __future__ import annotations

from typing import Protocol

from vdsm_hosted_engine.ha.snapshot import Action, ActionKind, ActionResult
from vdsm_hosted_engine.observations import MonitorValues, VmStatus
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.whiteboard import HostSlot, Whiteboard


class Env(Protocol):
    def now(self) -> float:
        """Monotonic seconds: the one clock of every timer (also the whiteboard timestamp)."""

    def wall(self) -> float:
        """Wall-clock seconds, only to date the whiteboard's human-readable lines."""

    def wait(self, timeout: float) -> None:
        """Sleep up to `timeout` seconds; returns early when `wake()` is called."""

    def wake(self) -> None:
        """Make the current or next `wait` return at once (any thread)."""

    def ensure_lockspace(self) -> bool | None:
        """True when this host holds its id; None while that cannot be told (a join or leave under
        way, an admin rewriting the lockspace); otherwise start joining (without blocking) and return
        False. Called every tick: sanlock drops the lockspace of a host that could not renew."""

    def leave_lockspace(self) -> None:
        """Release this host's id."""

    def liveness(self) -> dict[int, Liveness] | None:
        """sanlock's view of every host id, None while it cannot tell yet."""

    def lease_owner(self) -> int | None:
        """The live-or-failing host the engine-vm lease names, None when free; raises when unreadable."""

    def read_whiteboard(self) -> Whiteboard:
        """The whole metadata area, decoded; raises StorageError when unreadable."""

    def write_slot(self, slot: HostSlot) -> None:
        """Publish this host's slot; raises when storage or the host id is lost."""

    def vm_status(self) -> tuple[VmStatus, str]:
        """The Engine VM here and, when it went down, why (crashed, shutdown, destroyed, migrated...)."""

    def begin(self, action: Action) -> None:
        """Start a slow action (VM start/shutdown/destroy/migrate) off the loop, or raise an alert.
        One slow action at a time: another raises HostedEngineError, unless it `goes_ahead`
        (ha/snapshot.py). ABORT_MIGRATION acts on the running migration at once."""

    def action_status(self) -> tuple[ActionKind | None, ActionResult | None]:
        """The running action, and the result of one that finished since the last call (once)."""

    def monitors(self) -> MonitorValues:
        """The broker's current values."""

    def local_maintenance(self) -> bool:
        """Whether the admin put this host in local maintenance (a local flag)."""

    def identity(self) -> str:
        """ "<sdUUID>:<lease version>" as this host reads the domain and the Engine VM lease now;
        raises when unreadable."""

    def request_migration(self, target: int) -> None:
        """Record the admin's request to live-migrate the Engine VM (0: to the best host) and wake the
        agent (any thread)."""

    def take_migrate_request(self) -> int | None:
        """A pending admin request to live-migrate the Engine VM (0: to the best host), once."""
