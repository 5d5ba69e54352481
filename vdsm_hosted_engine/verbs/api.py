"""`HostedEngine`: the verbs, one method each, duck-typed to what VDSM's DynamicBridge calls
(positional or keyword arguments in schema order, plain return values).

Every verb validates and coerces its own arguments against the schema (`@verb`), whoever calls
it: our RPC server, VDSM's DynamicBridge through `verbs/vdsm_adapter.py` (which skips our server's
checks, and whose own checks are off unless `api_strict_mode`) or a test. vdsm-client sends
strings: "2" becomes 2, "true"/"false" become booleans (never by truthiness: "false" is false),
enum values are checked. A bad argument raises InvalidParams before anything is read or changed.

The verbs only read state and record intent (maintenance flags), then wake the agent: the agent
acts. VM start/shutdown/poweroff act directly, but only in global maintenance, when HA has handed
the Engine VM to the admin (as oVirt's `--vm-start` expects).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.ha import capacity
from vdsm_hosted_engine.ha.snapshot import ActionKind
from vdsm_hosted_engine.ha.view import ClusterView
from vdsm_hosted_engine.observations import VmStatus
from vdsm_hosted_engine.rpc.jsonrpc import Method
from vdsm_hosted_engine.storage import whiteboard
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.shared_config import SharedConfig
from vdsm_hosted_engine.storage.whiteboard import Whiteboard
from vdsm_hosted_engine.verbs.schema import Schema
from vdsm_hosted_engine.virt.domxml import VmConfig

logger = logging.getLogger(__name__)


class Backend(Protocol):
    """What the verbs need from the daemon (the real one is in daemon.py; tests may pass their own)."""

    host_id: int

    def view(self) -> tuple[ClusterView, float]: ...
    def whiteboard(self, fresh: bool = False) -> Whiteboard: ...
    def liveness(self) -> dict[int, Liveness] | None: ...
    def lease_owner(self) -> int | None: ...
    def agent_status(self) -> dict[str, Any]: ...
    def monitor_status(self) -> dict[str, Any]: ...
    def events(self) -> list[dict[str, Any]]: ...
    def set_global_maintenance(self, enabled: bool) -> None: ...
    def set_local_maintenance(self, enabled: bool) -> None: ...
    def vm_status(self) -> tuple[VmStatus, str]: ...
    def vm_action(self, kind: ActionKind) -> None: ...
    def clean_slot(self, host_id: int) -> None: ...
    def wake(self) -> None: ...
    def vm_config(self) -> VmConfig: ...
    def vm_cpu_seconds(self) -> float | None: ...
    def spare_count(self) -> int: ...
    def shared_config(self) -> SharedConfig: ...
    def local_config(self, key: str, value: str | None = None) -> str: ...
    def reinitialize_lockspace(self) -> None: ...
    def join_host(self, storage: str, hostname: str) -> int: ...


F = TypeVar("F", bound=Callable[..., Any])


def verb(function: F) -> F:
    """Check and coerce the arguments of a HostedEngine verb against its schema entry."""
    name = f"HostedEngine.{function.__name__}"

    @functools.wraps(function)
    def checked(self: HostedEngine, /, *args: Any, **kwargs: Any) -> Any:  # a param may be named "self"
        return function(self, **self.schema.arguments(name, args, kwargs))

    return checked  # type: ignore[return-value]


class HostedEngine:
    def __init__(self, backend: Backend, schema: Schema | None = None) -> None:
        self.backend = backend
        self.schema = schema or Schema.load()
        self._status: tuple[ClusterView, dict[str, Any]] | None = None  # getStatus's answer for a view

    # The read verbs answer from the agent's last cycle (`Backend.view`): no storage or sanlock call.

    @verb
    def getStatus(self) -> dict[str, Any]:
        """Built once per view (monitoring clients call it in loops, the view changes once a tick)."""
        view, age = self.backend.view()
        built = self._status
        if built is None or built[0] is not view:
            live = {h: view.liveness.get(h) is Liveness.LIVE for h in view.board.hosts}
            built = self._status = (view, whiteboard.status_dict(view.board, live))
        return {**built[1], "view_age": round(age, 3)}

    @verb
    def getMonitorStatus(self) -> dict[str, Any]:
        return self.backend.monitor_status()

    @verb
    def getScore(self) -> dict[str, Any]:
        return self.backend.agent_status()

    @verb
    def getEvents(self) -> dict[str, Any]:
        return {"events": self.backend.events()}

    @verb
    def setMaintenance(self, mode: str) -> bool:
        if mode == "global":
            self.backend.set_global_maintenance(True)
        elif mode == "local":
            # With the Engine VM here, the agent live-migrates it away first (or shuts it down so a
            # better host restarts it when no host can receive it live).
            self.backend.set_local_maintenance(True)
        elif mode == "none":
            self.backend.set_global_maintenance(False)
            self.backend.set_local_maintenance(False)
        else:  # unreachable past @verb; never let an unknown mode fall through to "none"
            raise InvalidRequest(f"unknown maintenance mode {mode!r}")
        logger.info("maintenance mode set to %s", mode)
        return True

    def _manual(self, kind: ActionKind) -> bool:
        if not self.backend.whiteboard(fresh=True).global_maintenance:
            raise InvalidRequest("HA manages the Engine VM: set global maintenance before starting or stopping it")
        self.backend.vm_action(kind)
        return True

    @verb
    def startVM(self) -> bool:
        return self._manual(ActionKind.START_VM)

    @verb
    def shutdownVM(self) -> bool:
        return self._manual(ActionKind.SHUTDOWN_VM)

    @verb
    def poweroffVM(self) -> bool:
        return self._manual(ActionKind.DESTROY_VM)

    @verb
    def migrateVM(self, hostId: int = 0) -> int:
        if self.backend.whiteboard(fresh=True).global_maintenance:
            raise InvalidRequest("global maintenance: HA does not move the Engine VM (start it by hand instead)")
        if not self.backend.vm_status()[0].running:
            raise InvalidRequest("the Engine VM does not run on this host: ask the host that runs it")
        if hostId == self.backend.host_id:
            raise InvalidRequest("the Engine VM runs on this host already")
        return self.backend.request_migration(hostId)

    @verb
    def checkLiveliness(self) -> dict[str, Any]:
        view, _age = self.backend.view()
        liveness = view.liveness
        for host_id, slot in sorted(view.board.hosts.items()):
            status = slot.engine_status
            if status.get("vm") == "up" and status.get("health") == "good" and liveness.get(host_id) is Liveness.LIVE:
                return {"up": True, "host": host_id}
        return {"up": False, "host": None}

    @verb
    def cleanMetadata(self, hostId: int, force: bool = False) -> bool:
        board = self.backend.whiteboard()
        slot = board.hosts.get(hostId)
        alive = (self.backend.liveness() or {}).get(hostId) in (Liveness.LIVE, Liveness.FAIL)
        if not force:
            if hostId == self.backend.host_id:
                raise InvalidRequest("refusing to clean this host's own slot while its agent runs (use force)")
            if alive or (slot is not None and not slot.stopped):
                raise InvalidRequest(
                    f"host {hostId} does not look stopped (its slot or sanlock says otherwise); use force"
                )
        self.backend.clean_slot(hostId)
        return True

    @verb
    def getFailoverCapacity(self) -> dict[str, Any]:
        view, _age = self.backend.view()
        return capacity.failover_capacity(view.board, view.liveness, self.backend.vm_config().memory_mib)

    @verb
    def getResourceUsage(self) -> dict[str, Any]:
        cluster, _age = self.backend.view()
        board, liveness = cluster.board, cluster.liveness
        vm = self.backend.vm_config()
        view = capacity.failover_capacity(board, liveness, vm.memory_mib)
        spares = capacity.spare_hosts(board, view, self.backend.spare_count())
        here = self.backend.vm_status()[0].running
        engine = {
            "hostId": self.backend.host_id if here else view["engineHost"],
            "memoryMiB": vm.memory_mib,
            "vcpus": vm.vcpus,
            "cpuSeconds": self.backend.vm_cpu_seconds() if here else None,
        }
        reserved = vm.memory_mib if self.backend.host_id in spares else 0
        return {"engine": engine, "spareHosts": spares, "reservedHereMiB": reserved}

    @verb
    def getSharedConfig(self, key: str, type: str = "he_shared") -> dict[str, Any]:
        if type == "he_local":
            return {"key": key, "value": self.backend.local_config(key), "version": None}
        values, version = self.backend.shared_config().read()
        if key not in values:
            raise InvalidRequest(f"no key {key!r} in the shared configuration")
        return {"key": key, "value": values[key], "version": version}

    @verb
    def setSharedConfig(self, key: str, value: str, type: str = "he_shared") -> dict[str, Any]:
        if type == "he_local":
            return {"key": key, "value": self.backend.local_config(key, value), "version": None}
        version = self.backend.shared_config().set(key, value)
        logger.info("shared configuration %s set (version %d)", key, version)
        return {"key": key, "value": value, "version": version}

    @verb
    def reinitializeLockspace(self, force: bool = False) -> bool:
        if self.backend.vm_status()[0].running:
            raise InvalidRequest("the Engine VM runs on this host: reinitializing the lockspace would kill it")
        owner = self.backend.lease_owner()
        if owner is not None:
            raise InvalidRequest(
                f"host {owner} holds the Engine VM lease: reinitializing the lockspace would make sanlock kill "
                "the Engine VM there (force does not override this)"
            )
        if not force:
            board = self.backend.whiteboard()
            if not board.global_maintenance:
                raise InvalidRequest("set global maintenance first (or force)")
            liveness = self.backend.liveness() or {}
            busy = sorted(
                h
                for h, slot in board.hosts.items()
                if h != self.backend.host_id and not slot.stopped and liveness.get(h) in (Liveness.LIVE, Liveness.FAIL)
            )
            if busy:
                raise InvalidRequest(f"stop the agents on host(s) {', '.join(map(str, busy))} first (or force)")
        self.backend.reinitialize_lockspace()
        return True

    @verb
    def joinHost(self, storage: str, hostname: str = "") -> dict[str, Any]:
        return {"hostId": self.backend.join_host(storage, hostname)}

    @verb
    def vmStateChanged(self) -> bool:
        self.backend.wake()
        return True


def methods(api: HostedEngine, schema: Schema) -> dict[str, Method]:
    """`HostedEngine.<verb>` -> callable(params), for the RPC server (the verbs validate)."""

    def bind(function: Callable[..., Any]) -> Method:
        return lambda params: function(**params)

    return {name: bind(getattr(api, spec.method)) for name, spec in schema.verbs.items()}
