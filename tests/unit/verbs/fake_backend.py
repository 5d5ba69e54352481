"""FakeBackend: the daemon's side of the verbs, in memory, for the verb and adapter tests."""

from vdsm_hosted_engine.ha.view import ClusterView
from vdsm_hosted_engine.observations import VmStatus
from vdsm_hosted_engine.storage import whiteboard as wb
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness

UP = {"vm": "up", "health": "good", "detail": "", "reason": ""}
DOWN = {"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}


class FakeBackend:
    """Stands in for the daemon in these pure unit tests."""

    host_id = 1

    def __init__(self):
        self.slots = {1: wb.HostSlot(1, 5, 3400, DOWN, "h1"), 2: wb.HostSlot(2, 7, 3400, UP, "h2", stopped=False)}
        self.global_maintenance = False
        self.local = False
        self.vm = VmStatus.DOWN
        self.actions = []
        self.cleaned = []
        self.migrations = []
        self.fresh_reads = 0
        self.live = {1: Liveness.LIVE, 2: Liveness.LIVE}
        self.owner = None
        self.view_age = 1.5
        self._view = None
        self.io_calls = []  # whiteboard() and liveness(): storage or sanlock in the daemon

    def events(self):
        return [{"number": 1, "time": 1.5, "kind": "transition", "detail": "EngineDown-EngineStart", "sentence": "s"}]

    def lease_owner(self):
        return self.owner

    def view(self):
        """The agent's last view (the daemon's answers without I/O), `view_age` seconds old; a new
        view whenever a test changed what it holds."""
        held = (self._board(), dict(self.live))
        if self._view is None or (self._view.board, self._view.liveness) != held:
            self._view = ClusterView(*held, 100.0)
        return self._view, self.view_age

    def _board(self):
        return wb.Whiteboard(wb.GlobalSlot(self.global_maintenance), dict(self.slots), {})

    def whiteboard(self, fresh=False):
        self.fresh_reads += fresh
        self.io_calls.append("whiteboard")
        return self._board()

    def liveness(self):
        self.io_calls.append("liveness")
        return self.live

    def agent_status(self):
        return {"score": 3400, "state": "EngineDown", "sentence": "no action"}

    def monitor_status(self):
        return {"network": {"value": 1.0}}

    def set_global_maintenance(self, enabled):
        self.global_maintenance = enabled

    def set_local_maintenance(self, enabled):
        self.local = enabled

    def vm_status(self):
        return self.vm, ""

    def vm_action(self, kind):
        self.actions.append(kind)

    def clean_slot(self, host_id):
        self.cleaned.append(host_id)

    def request_migration(self, host_id):
        self.migrations.append(host_id)
        return host_id or 3  # the agent's choice

    def wake(self):
        self.woken = True
