"""Which hosts could take the Engine VM now, and which keep its RAM free (pure).

Every host computes the same answer from the same whiteboard and sanlock view, so the spare hosts
(the best `count` hosts that could start the Engine, ranked like a start: score, priority, lower
id) know they are spares without talking to each other. The Engine's host is never its own spare.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vdsm_hosted_engine.ha import score
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.whiteboard import Whiteboard


def engine_host(board: Whiteboard, liveness: Mapping[int, Liveness]) -> int | None:
    for host_id, slot in sorted(board.hosts.items()):
        if slot.engine_status.get("vm") == "up" and liveness.get(host_id) is Liveness.LIVE:
            return host_id
    return None


def failover_capacity(board: Whiteboard, liveness: Mapping[int, Liveness], vm_mem_mib: int) -> dict[str, Any]:
    """host id -> {canStart, reasons}: why each host could or could not start the Engine VM now."""
    running = engine_host(board, liveness)
    hosts: dict[str, Any] = {}
    for host_id, slot in sorted(board.hosts.items()):
        reasons = []
        state = liveness.get(host_id, Liveness.FREE)
        if state is not Liveness.LIVE:
            reasons.append(f"sanlock sees it {state.value}")
        if slot.stopped:
            reasons.append("its agent is stopped")
        if slot.maintenance:
            reasons.append("local maintenance")
        if slot.score <= 0:
            reasons.append("score 0")
        if host_id == running:
            reasons.append("runs the Engine VM")
        mem_free = slot.extra.get("mem_free_mib")
        if mem_free is not None and mem_free.isdigit() and int(mem_free) < vm_mem_mib and host_id != running:
            reasons.append(f"free memory {mem_free} MiB < {vm_mem_mib} MiB")
        if board.global_maintenance:
            reasons.append("global maintenance")
        hosts[str(host_id)] = {"canStart": not reasons, "reasons": reasons, "score": slot.score}
    return {"engineHost": running, "globalMaintenance": board.global_maintenance, "hosts": hosts}


def spare_hosts(board: Whiteboard, capacity: Mapping[str, Any], count: int) -> list[int]:
    """The `count` best hosts that could start the Engine: they keep its RAM free."""
    candidates = []
    for key, entry in capacity["hosts"].items():
        reasons = [r for r in entry["reasons"] if r != "global maintenance"]
        if not reasons:
            slot = board.hosts[int(key)]
            priority = (
                int(slot.extra.get("priority", "0")) if slot.extra.get("priority", "0").lstrip("-").isdigit() else 0
            )
            candidates.append((score.rank(slot.score, priority, slot.host_id), slot.host_id))
    return [host_id for _, host_id in sorted(candidates, reverse=True)[:count]]
