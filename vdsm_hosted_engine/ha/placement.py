"""Where the Engine VM is and where it should go (pure): the state machine's reading of the cluster.

`engine_elsewhere` says whether another host runs (or may run) the Engine VM, from the lease first
and the peers' slots second; `best_host` ranks the hosts that may start it; `migration_destination`
picks a live-migration target reading the same domain and lease as this host (`identity`).
"""

from __future__ import annotations

from vdsm_hosted_engine.ha import score as score_
from vdsm_hosted_engine.ha.snapshot import Peer, Snapshot
from vdsm_hosted_engine.observations import Health
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness


def peers(snap: Snapshot) -> dict[int, Peer]:
    """The other hosts as the snapshot knows them (none while sanlock cannot tell)."""
    return dict(snap.peers or {})


def engine_elsewhere(snap: Snapshot) -> tuple[str, int | None, str]:
    """Where the Engine VM may run if not here: ("none"|"up"|"failing"|"unknown", host, detail)."""
    known = peers(snap)
    owner = snap.lease_owner
    if owner is not None and owner != snap.host_id:
        peer = known.get(owner)
        liveness = peer.liveness if peer else Liveness.UNKNOWN
        if liveness is Liveness.LIVE:
            return "up", owner, f"host {owner} holds the Engine VM lease"
        if liveness in (Liveness.FAIL, Liveness.UNKNOWN):
            status = "failing" if liveness is Liveness.FAIL else "of unknown liveness"
            return "failing", owner, f"host {owner} holds the Engine VM lease and is {status} in sanlock"
        # DEAD or FREE: its lease is free for the taking.
    for peer in sorted(known.values(), key=lambda p: p.host_id):
        if peer.live and peer.migrating_to is not None:
            return "up", peer.host_id, f"host {peer.host_id} live-migrates the Engine VM to host {peer.migrating_to}"
    if snap.lease_known and owner is None:
        # A running Engine VM holds its lease: a free lease outranks a slot that still says "up"
        # (a peer whose VM just died publishes that only on its next tick).
        return "none", None, ""
    for peer in sorted(known.values(), key=lambda p: p.host_id):
        if peer.reports_engine_up:
            return "up", peer.host_id, f"host {peer.host_id} reports the Engine VM up"
    if not snap.lease_known:
        return "unknown", None, "the Engine VM lease cannot be read"
    return "none", None, ""


def mismatched(snap: Snapshot, peer: Peer) -> bool:
    """The peer reads another storage domain or Engine VM lease than this host: never hand it the VM."""
    return bool(snap.identity and peer.identity and peer.identity != snap.identity)


def outvoted(snap: Snapshot) -> list[int]:
    """Live hosts reading another domain or lease than this host, when they are at least as many as
    the hosts that agree with it (this host included): then this host, not they, may be the odd one
    and must not start the Engine VM."""
    live = [p for p in peers(snap).values() if p.live and p.identity and snap.identity]
    differ = [p.host_id for p in live if p.identity != snap.identity]
    agree = 1 + sum(1 for p in live if p.identity == snap.identity)
    return sorted(differ) if differ and len(differ) >= agree else []


NOT_HEALTHY = "the Engine is not healthy"  # why no live migration now: may pass (a probe that timed out)


def migration_destination(snap: Snapshot, candidates: list[Peer]) -> tuple[Peer | None, str]:
    """The best of `candidates` that can receive the running Engine VM live, or None and why not."""
    if snap.network is not None and snap.network <= 0:
        return None, "this host has lost the management network"
    if snap.health is not Health.GOOD:
        return None, NOT_HEALTHY
    if not snap.identity:
        return None, "this host cannot read the Engine VM lease"
    if not candidates:
        return None, "no live eligible host"
    same = [p for p in candidates if p.identity == snap.identity]
    if not same:
        p = max(candidates, key=lambda p: score_.rank(p.score, p.priority, p.host_id))
        theirs = p.identity or "nothing (an agent without live migration)"
        return None, f"host {p.host_id} reads {theirs}, this host {snap.identity}"
    return max(same, key=lambda p: score_.rank(p.score, p.priority, p.host_id)), ""


def best_host(snap: Snapshot, my_score: int) -> int | None:
    """The best eligible host for starting the Engine VM, me included (None: nobody eligible)."""
    candidates = {
        p.host_id: score_.rank(p.score, p.priority, p.host_id)
        for p in peers(snap).values()
        if p.eligible and not mismatched(snap, p)
    }
    if my_score > 0:
        candidates[snap.host_id] = score_.rank(my_score, snap.priority, snap.host_id)
    if not candidates:
        return None
    return max(candidates, key=lambda h: candidates[h])
