"""A minimal simulated host for the storage layer: one process, one sanlock daemon.

libsanlock binds a process to one daemon (SANLOCK_RUN_DIR is read once), so each simulated host's
storage calls run in a process of its own, as they do on real hosts. `StorageHost` starts
`python -m vdsm_hosted_engine.lab.storage_host DOMAIN` with a daemon's environment and sends it
commands, one JSON object per line; the child runs them with the real storage code and answers one
JSON object per line. Used by the integration tests and the demo.

Besides the storage operations it can `acquire` / `release` the Engine VM lease for itself, standing
in for qemu (in production libvirt's sanlock plugin acquires it for the qemu process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from vdsm_hosted_engine.errors import HostedEngineError

_OPS = (
    "join",
    "leave",
    "holds",
    "hosts",
    "owners",
    "owner_records",
    "host_leases",
    "live_owner",
    "write_slot",
    "read",
    "set_global_maintenance",
    "acquire",
    "release",
)


class StorageHostError(HostedEngineError):
    """An operation failed in the host process; `kind` is the error class name there."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}")


class StorageHost:
    """Client side: a child process bound to one sanlock daemon (`env` holds SANLOCK_RUN_DIR)."""

    def __init__(self, domain_path: str, env: dict[str, str], name: str = "host") -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vdsm_hosted_engine.lab.storage_host", domain_path],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def call(self, op: str, **args: Any) -> Any:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise StorageHostError("EOF", f"host process {self.name} exited (rc {self.process.poll()})")
        reply = json.loads(line)
        if not reply["ok"]:
            raise StorageHostError(reply["type"], reply["error"])
        return reply["result"]

    def kill(self) -> None:
        """SIGKILL the process (with any lease it holds), as a host crash would."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process.wait()


def _serve(domain_path: str) -> None:
    import time

    import sanlock

    from vdsm_hosted_engine.storage import whiteboard
    from vdsm_hosted_engine.storage.domain import StorageDomain
    from vdsm_hosted_engine.storage.sanlock_lockspace import sanlock_errors
    from vdsm_hosted_engine.storage.sanlock_resource import live_owner

    domain = StorageDomain.open(domain_path)
    lockspace = domain.lockspace()
    board = domain.whiteboard(lockspace)
    lease = domain.engine_vm_lease()
    state: dict[str, Any] = {"fd": None}

    def run(op: str, args: dict[str, Any]) -> Any:
        if op == "join":
            lockspace.join(args["host_id"])
            return True
        if op == "leave":
            lockspace.leave(args["host_id"], unused=args.get("unused", True))
            return True
        if op == "holds":
            return lockspace.holds(args["host_id"])
        if op == "hosts":
            hosts = lockspace.hosts()
            return None if hosts is None else {str(k): v.liveness.value for k, v in hosts.items()}
        if op == "owners":
            return [o.host_id for o in lease.owners()]
        if op == "owner_records":
            return [[o.host_id, o.generation] for o in lease.owners()]
        if op == "host_leases":
            hosts = lockspace.hosts()
            return None if hosts is None else {str(k): [v.liveness.value, v.generation] for k, v in hosts.items()}
        if op == "live_owner":
            owner = live_owner(lease.owners(), lockspace.hosts())
            return owner.host_id if owner else None
        if op == "write_slot":
            slot = whiteboard.HostSlot(
                host_id=args["host_id"],
                timestamp=int(time.monotonic()),
                score=args.get("score", 3400),
                engine_status=args.get(
                    "engine_status",
                    {"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"},
                ),
                hostname=args.get("hostname", f"host{args['host_id']}"),
                state=args.get("state", "EngineDown"),
                extra=args.get("extra", {}),
            )
            board.write_host_slot(slot, wall_time=time.time())
            return True
        if op == "read":
            return whiteboard.status_dict(board.read())
        if op == "set_global_maintenance":
            board.set_global_maintenance(args["host_id"], args["enabled"])
            return True
        if op == "acquire":
            if state["fd"] is None:
                with sanlock_errors("register"):
                    state["fd"] = sanlock.register()
            with sanlock_errors("acquire"):
                sanlock.acquire(lease.lockspace, lease.resource, lease.disks, slkfd=state["fd"])
            return True
        if op == "release":
            with sanlock_errors("release"):
                sanlock.release(lease.lockspace, lease.resource, lease.disks, slkfd=state["fd"])
            return True
        raise ValueError(f"unknown op {op!r}; known: {', '.join(_OPS)}")

    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        try:
            reply = {"ok": True, "result": run(op, request)}
        except (HostedEngineError, ValueError, KeyError) as e:
            reply = {"ok": False, "type": type(e).__name__, "error": str(e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) != 2 or not os.path.isabs(sys.argv[1]):
        sys.exit("usage: python -m vdsm_hosted_engine.lab.storage_host /path/to/domain")
    _serve(sys.argv[1])
