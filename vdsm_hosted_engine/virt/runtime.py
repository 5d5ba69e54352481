"""The Engine VM on this host, through libvirt: status, start, shutdown, destroy, lifecycle events.

Works on `qemu:///system` and on `test:///default` (whose state lives in the connection, so one
connection is kept for the runtime's life and reopened only when it breaks). Starting runs the
`before_vm_start` hooks over the domxml (our lease hook among them), checks that the final domxml
holds the Engine VM's sanlock lease and nothing else in its place (libvirt with
`require_lease_for_disks = 0` would run it unprotected), creates a transient domain and runs
`after_vm_start`; destroying runs `before_vm_destroy` / `after_vm_destroy` around it, as vdsmd.

Lifecycle events (libvirt's default event loop, one thread per process) record why the VM went down
and call `on_event` so the agent wakes at once instead of at its next tick.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

import libvirt

from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.hooks.lease import LeaseSpec, lease_problems
from vdsm_hosted_engine.observations import INCOMING_FAILED, VmStatus
from vdsm_hosted_engine.virt import domxml, hooks
from vdsm_hosted_engine.virt.domxml import VmConfig

logger = logging.getLogger(__name__)

_STATES = {
    libvirt.VIR_DOMAIN_RUNNING: VmStatus.UP,
    libvirt.VIR_DOMAIN_BLOCKED: VmStatus.UP,
    libvirt.VIR_DOMAIN_PAUSED: VmStatus.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: VmStatus.POWERING_DOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: VmStatus.DOWN,
    libvirt.VIR_DOMAIN_CRASHED: VmStatus.DOWN,
    libvirt.VIR_DOMAIN_PMSUSPENDED: VmStatus.PAUSED,
}
_STOP_REASONS = {
    libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED: "destroyed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_MIGRATED: "migrated",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_SAVED: "saved",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED: "crashed",
}
# Paused for a moment by libvirt itself (an incoming or finishing live migration, start-up).
_TRANSIENT_PAUSES = {
    libvirt.VIR_DOMAIN_PAUSED_MIGRATION,
    libvirt.VIR_DOMAIN_PAUSED_STARTING_UP,
    libvirt.VIR_DOMAIN_PAUSED_POSTCOPY,
}
LEASE_HELD_MARKERS = ("held by another host", "-243", "Failed to acquire lock")

_event_loop_lock = threading.Lock()
_event_loop_started = False


class VmError(HostedEngineError):
    """A VM action failed; `lease_held_elsewhere` when sanlock refused the Engine VM lease."""

    code = 9300

    def __init__(self, message: str, lease_held_elsewhere: bool = False) -> None:
        super().__init__(message)
        self.lease_held_elsewhere = lease_held_elsewhere


def ensure_event_loop() -> None:
    """libvirt's default event implementation, run by one daemon thread per process."""
    global _event_loop_started
    with _event_loop_lock:
        if _event_loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()
        # libvirt prints every error to stderr by default; ours are raised and logged where handled.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

        def loop() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=loop, name="libvirt-events", daemon=True).start()
        _event_loop_started = True


class VmRuntime:
    """The Engine VM on one libvirt connection. `lease` is the `<lease>` the final domxml must hold
    (the storage domain's engine-vm resource): `start` refuses any domxml without exactly it."""

    def __init__(
        self,
        uri: str,
        vm: VmConfig,
        hooks_dir: str | None = None,
        on_event: Callable[[], None] | None = None,
        hook_env: dict[str, str] | None = None,
        *,
        lease: LeaseSpec,
    ) -> None:
        self.uri = uri
        self.hook_env = hook_env or {}
        self.vm = vm
        self.hooks_dir = hooks_dir
        self.lease = lease
        self.on_event = on_event
        self.down_reason = ""
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.RLock()
        self._expected_stop = False
        self._incoming = False  # the domain here is a live migration's destination, not yet running

    # -- connection ---------------------------------------------------------------------------

    def _connection(self) -> libvirt.virConnect:
        with self._lock:
            if self._conn is not None and self._conn.isAlive():
                return self._conn
            ensure_event_loop()
            self._conn = libvirt.open(self.uri)
            self._conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle, None)
            logger.info("connected to libvirt at %s", self.uri)
            return self._conn

    def _domain(self) -> libvirt.virDomain | None:
        try:
            return self._connection().lookupByUUIDString(self.vm.vm_uuid)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    def _lifecycle(self, conn, dom, event, detail, opaque) -> None:
        if dom.UUIDString() != self.vm.vm_uuid:
            return
        if event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
            reason = _STOP_REASONS.get(detail, "crashed")
            if reason in ("shutdown", "destroyed") and not self._expected_stop:
                reason = f"{reason} outside HA"
            if self._incoming:  # the destination's domain of a migration that did not complete
                reason = INCOMING_FAILED
            self._incoming = False
            self.down_reason = reason
            logger.info("Engine VM stopped (%s)", reason)
            # Not on the event loop thread: hooks may take a while.
            threading.Thread(target=self._run_after_destroy, name="after_vm_destroy", daemon=True).start()
        elif event == libvirt.VIR_DOMAIN_EVENT_STARTED:
            self.down_reason = ""
            self._incoming = detail == libvirt.VIR_DOMAIN_EVENT_STARTED_MIGRATED
        elif event == libvirt.VIR_DOMAIN_EVENT_RESUMED:
            self._incoming = False  # the migration completed: the VM runs here now
        if self.on_event is not None:
            self.on_event()

    def _run_after_destroy(self) -> None:
        try:
            hooks.run(self.hooks_dir, "after_vm_destroy", "", self.vm.vm_uuid, self.hook_env)
        except HostedEngineError as e:
            logger.warning("after_vm_destroy hooks: %s", e)

    # -- queries ------------------------------------------------------------------------------

    def status(self) -> tuple[VmStatus, str]:
        """The Engine VM here; UNKNOWN when libvirt does not answer."""
        try:
            dom = self._domain()
            if dom is None:
                return VmStatus.DOWN, self.down_reason
            state, reason = dom.state()
        except libvirt.libvirtError as e:
            logger.warning("libvirt does not answer: %s", e)
            with self._lock:
                self._conn = None
            return VmStatus.UNKNOWN, ""
        status = _STATES.get(state, VmStatus.UNKNOWN)
        if state == libvirt.VIR_DOMAIN_RUNNING:
            self._incoming = False  # it runs here now (an incoming migration completed)
        if status is VmStatus.PAUSED and reason in _TRANSIENT_PAUSES:
            # An incoming live migration, or qemu not started yet, not a guest that stopped
            # running: the agent must not power it off as a paused Engine VM.
            status = VmStatus.POWERING_UP
        return status, (self.down_reason if status is VmStatus.DOWN else "")

    def cpu_seconds(self) -> float | None:
        """CPU time the Engine VM has used (for the cpu-load-no-engine monitor)."""
        try:
            dom = self._domain()
            return None if dom is None else dom.info()[4] / 1e9
        except libvirt.libvirtError:
            return None

    def domxml(self) -> str:
        return domxml.build(self.vm)

    # -- actions ------------------------------------------------------------------------------

    def start(self) -> None:
        """Hooks, the lease check, then create the domain. VmError(lease_held_elsewhere=True) when
        sanlock refuses; VmError (not held elsewhere) when the final domxml lacks the lease."""
        xml = hooks.run(self.hooks_dir, "before_vm_start", self.domxml(), self.vm.vm_uuid, self.hook_env)
        problems = lease_problems(xml, self.lease)
        if problems:
            message = (
                "refusing to start the Engine VM without its sanlock lease: "
                f"{'; '.join(problems)} ({self._hooks_that_ran()})"
            )
            logger.error("%s", message)
            raise VmError(message)
        self._expected_stop = False
        try:
            self._connection().createXML(xml, 0)
        except libvirt.libvirtError as e:
            text = str(e)
            held = e.get_error_code() == libvirt.VIR_ERR_RESOURCE_BUSY or any(m in text for m in LEASE_HELD_MARKERS)
            raise VmError(f"cannot start the Engine VM: {text}", lease_held_elsewhere=held) from None
        logger.info("Engine VM created")
        hooks.run(self.hooks_dir, "after_vm_start", xml, self.vm.vm_uuid, self.hook_env)

    def _hooks_that_ran(self) -> str:
        """Where the lease should have come from, for the refusal's sentence."""
        if not self.hooks_dir:
            return "no hooks_dir is configured, so no before_vm_start hook ran"
        ran = [os.path.basename(script) for script in hooks.scripts(self.hooks_dir, "before_vm_start")]
        if not ran:
            return f"no before_vm_start hook ran: are the before_vm_start hooks in {self.hooks_dir}?"
        return f"before_vm_start hooks run from {self.hooks_dir}: {', '.join(ran)}"

    def request_shutdown(self) -> bool:
        """Ask the guest to shut down (ACPI) and return at once; False if the request failed.
        The agent's state machine owns the timeout after which it powers the VM off."""
        dom = self._domain()
        if dom is None:
            return True
        self._expected_stop = True
        try:
            dom.shutdown()
        except libvirt.libvirtError as e:
            logger.warning("shutdown request failed: %s", e)
            return False
        return True

    def shutdown(self, grace: float = 120.0, poll: float = 0.5) -> None:
        """ACPI shutdown, then destroy if the guest has not stopped within `grace` seconds."""
        if self._domain() is None:
            return
        if not self.request_shutdown():
            self.destroy()
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.status()[0] is VmStatus.DOWN:
                return
            time.sleep(poll)
        logger.warning("Engine VM did not shut down in %.0f s; destroying", grace)
        self.destroy()

    def destroy(self) -> None:
        dom = self._domain()
        if dom is None:
            return
        self._expected_stop = True
        hooks.run(self.hooks_dir, "before_vm_destroy", "", self.vm.vm_uuid, self.hook_env)
        try:
            dom.destroy()
        except libvirt.libvirtError as e:
            if self._domain() is not None:
                raise VmError(f"cannot destroy the Engine VM: {e}") from None

    def migrate(self, destination_uri: str, data_uri: str | None = None, unsafe: bool = False) -> None:
        """Live-migrate the Engine VM peer-to-peer (the source libvirtd talks to the destination's),
        blocking until done. libvirt's sanlock plugin releases the lease as the guest pauses at the end
        and the destination acquires it as it resumes; on any failure the VM keeps running here with
        its lease. Raises VmError."""
        dom = self._domain()
        if dom is None:
            raise VmError("the Engine VM does not run on this host")
        params = {libvirt.VIR_MIGRATE_PARAM_URI: data_uri} if data_uri else {}
        flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_ABORT_ON_ERROR
        if unsafe:
            flags |= libvirt.VIR_MIGRATE_UNSAFE
        started = time.monotonic()
        try:
            dom.migrateToURI3(destination_uri, params, flags)
        except libvirt.libvirtError as e:
            raise VmError(f"live migration to {destination_uri} failed: {e}") from None
        logger.info("Engine VM live-migrated to %s in %.2f s", destination_uri, time.monotonic() - started)

    def abort_migration(self) -> None:
        dom = self._domain()
        if dom is None:
            return
        try:
            dom.abortJob()
        except libvirt.libvirtError as e:
            logger.warning("could not abort the live migration: %s", e)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()
                self._conn = None
