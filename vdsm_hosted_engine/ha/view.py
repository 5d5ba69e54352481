"""`ClusterView`: what one agent cycle read of the cluster, kept for the read verbs.

getStatus and the other read verbs answer from the agent's last view, with its age, instead of
reading the whiteboard and asking sanlock per call: the agent refreshes it every tick and on every
event that wakes it (VM events, verbs), so it is at most one tick old while storage answers, and an
answer from a stuck cycle says how old it is instead of hanging on the same storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.whiteboard import Whiteboard


@dataclass(frozen=True)
class ClusterView:
    """The whiteboard and sanlock's liveness of every host id (empty while this host is not in the
    lockspace), both read in the cycle that began at `read_at` (the Env's monotonic clock)."""

    board: Whiteboard
    liveness: Mapping[int, Liveness]
    read_at: float
