"""The agent's `Env` on a real host: sanlock, the storage domain, libvirt and the broker.

Slow actions (VM start, shutdown, destroy) run one at a time on a worker thread; the loop keeps
ticking meanwhile and sees the result on a later tick. Joining the lockspace (~3 x io_timeout) also
runs off the loop. Alerts are logged at ERROR, handed to the notifier (ha/notify.py: e-mail off
the loop, rate-limited), and passed to the `hosted_engine_alert` hook point (scripts in
`<hooks_dir>/hosted_engine_alert/`, the message in env `HE_ALERT`) for any other monitoring.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from vdsm_hosted_engine.broker.broker import Broker
from vdsm_hosted_engine.deadline import CallHung, Deadlines
from vdsm_hosted_engine.errors import HostedEngineError, LockspaceBusy, SanlockError
from vdsm_hosted_engine.ha import ha_conf
from vdsm_hosted_engine.ha.notify import Notifications
from vdsm_hosted_engine.ha.snapshot import Action, ActionKind, ActionResult, goes_ahead
from vdsm_hosted_engine.observations import MonitorValues, VmStatus
from vdsm_hosted_engine.storage.domain import StorageDomain
from vdsm_hosted_engine.storage.sanlock_lockspace import HostLease, Liveness
from vdsm_hosted_engine.storage.sanlock_resource import live_owner
from vdsm_hosted_engine.storage.whiteboard import HostSlot, Whiteboard
from vdsm_hosted_engine.virt import hooks
from vdsm_hosted_engine.virt.runtime import VmError, VmRuntime

logger = logging.getLogger(__name__)

ALERT_HOOK_POINT = "hosted_engine_alert"
JOIN_BACKOFF_MAX = 5.0  # seconds between attempts to join the lockspace while it keeps failing


@dataclass(eq=False)
class _Running:
    """One slow action under way; compared by identity, so a superseded one's end is told apart."""

    kind: ActionKind


class RealEnv:
    def __init__(
        self,
        host_id: int,
        domain: StorageDomain,
        runtime: VmRuntime,
        broker: Broker,
        ha_conf_path: str,
        hooks_dir: str | None = None,
        shutdown_grace: float = 120.0,
        call_timeout: float = 10.0,
        notifier: Notifications | None = None,
    ) -> None:
        self.host_id = host_id
        self.domain = domain
        self.lockspace = domain.lockspace()
        self.whiteboard = domain.whiteboard(self.lockspace)
        self.lease = domain.engine_vm_lease()
        self.runtime = runtime
        self.broker = broker
        self.ha_conf = ha_conf_path  # ha.conf: local maintenance, kept across reboots
        self.hooks_dir = hooks_dir
        self.shutdown_grace = shutdown_grace
        self.notifier = notifier
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._running: _Running | None = None  # the slow action under way (its own object per begin)
        self._result: ActionResult | None = None
        self._joining = False
        self._calls = Deadlines()
        self.call_timeout = call_timeout  # a storage or libvirt call hung this long counts as failed
        self._local_maintenance = False  # the last value read from ha.conf
        self._join_retry_at = 0.0
        self._join_failures = 0
        self._join_error = ""
        self._paused = threading.Event()
        self._migrate_request: int | None = None
        self.migration_uri = "qemu+tls://{host}/system"
        self.migration_data_uri: str | None = None
        self.migration_unsafe = False

    # -- clock ----------------------------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def wait(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    # -- sanlock ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lockspace_paused(self) -> Iterator[None]:
        """No (re)join while an admin operation rewrites the lockspace."""
        self._paused.set()
        try:
            yield
        finally:
            self._paused.clear()

    def ensure_lockspace(self) -> bool | None:
        if self._paused.is_set():
            return None
        held = self.lockspace.holds(self.host_id)
        if held is not False:
            return held  # True, or None while sanlock joins or leaves
        with self._lock:
            if self._joining or time.monotonic() < self._join_retry_at:
                return False
            self._joining = True
        threading.Thread(target=self._join, name="join-lockspace", daemon=True).start()
        return False

    def _join(self) -> None:
        """Join once; a failure is logged once, then counted, and retried with back-off (1, 2, 4, 5 s):
        with the storage gone a join fails at once, and retrying every tick flooded the log; a short
        cap rejoins soon after the storage is back."""
        try:
            self.lockspace.join(self.host_id)
            failed, self._join_failures = self._join_failures, 0
            after = f" after {failed} failed attempt(s)" if failed else ""
            logger.info("joined the lockspace as host id %d%s", self.host_id, after)
        except HostedEngineError as e:
            self._join_failures += 1
            delay = min(JOIN_BACKOFF_MAX, 2.0 ** (self._join_failures - 1))
            with self._lock:
                self._join_retry_at = time.monotonic() + delay
            if str(e) != self._join_error:
                logger.warning("joining the lockspace failed: %s; retrying with back-off", e)
            else:
                logger.debug("joining the lockspace failed again (%d attempts): %s", self._join_failures, e)
            self._join_error = str(e)
        finally:
            with self._lock:
                self._joining = False
            self.wake()

    def leave_lockspace(self) -> None:
        """Release the host id, unless a process here holds a lease in it (the Engine VM, or one
        being started): sanlock itself refuses then (`unused`), whatever libvirt can tell us."""
        try:
            self.lockspace.leave(self.host_id)
        except LockspaceBusy:
            logger.info("keeping host id %d: the Engine VM holds its lease on this host", self.host_id)
        except SanlockError as e:
            logger.warning("could not leave the lockspace: %s", e)

    def hosts(self) -> dict[int, HostLease] | None:
        try:
            return self.lockspace.hosts()
        except SanlockError as e:
            logger.debug("sanlock cannot list the hosts: %s", e)
            return None

    def liveness(self) -> dict[int, Liveness] | None:
        hosts = self.lockspace.hosts()
        return None if hosts is None else {h: lease.liveness for h, lease in hosts.items()}

    def lease_owner(self) -> int | None:
        owners = self._calls.call("reading the Engine VM lease", self.call_timeout, self.lease.owners)
        owner = live_owner(owners, self.hosts())
        return owner.host_id if owner else None

    # -- whiteboard ------------------------------------------------------------------------------

    def read_whiteboard(self) -> Whiteboard:
        return self._calls.call("reading the whiteboard", self.call_timeout, self.whiteboard.read)

    def write_slot(self, slot: HostSlot) -> None:
        wall = self.wall()
        self._calls.call(
            "writing this host's slot", self.call_timeout, lambda: self.whiteboard.write_host_slot(slot, wall_time=wall)
        )

    # -- the VM ------------------------------------------------------------------------------------

    def vm_status(self) -> tuple[VmStatus, str]:
        try:
            return self._calls.call("asking libvirt for the Engine VM", self.call_timeout, self.runtime.status)
        except CallHung as e:
            logger.warning("%s", e)
            return VmStatus.UNKNOWN, ""

    def begin(self, action: Action) -> None:
        if action.kind is ActionKind.ALERT:
            # Off the loop: the alert runs hook scripts (30 s each).
            threading.Thread(target=self._alert, args=(action.detail,), name="alert", daemon=True).start()
            return
        if action.kind is ActionKind.ABORT_MIGRATION:
            # The running migrate call then fails: the VM stays here. Off the loop: libvirt may hang.
            threading.Thread(target=self.runtime.abort_migration, name="abort-migration", daemon=True).start()
            return
        with self._lock:
            if self._running is not None and not goes_ahead(action.kind, self._running.kind):
                raise VmError(f"{self._running.kind.value} still running; not starting {action.kind.value}")
            if self._running is not None:
                # An action that does not end (a migration even its abort did not end, a hung
                # start) must not keep the VM unmanaged: the stop goes ahead; the other's end,
                # whenever it comes, is only logged.
                logger.warning("%s goes ahead of a %s that does not end", action.kind.value, self._running.kind.value)
            running = self._running = _Running(action.kind)
        threading.Thread(
            target=self._perform, args=(action, running), name=f"vm-{action.kind.value}", daemon=True
        ).start()

    def _perform(self, action: Action, running: _Running) -> None:
        result = ActionResult(action.kind, True)
        started = time.monotonic()
        try:
            if action.kind is ActionKind.START_VM:
                self.runtime.start()
            elif action.kind is ActionKind.SHUTDOWN_VM:
                # Only the request: the state machine waits for the VM to stop and powers it off
                # after its own stop timeout (so a force stop never waits behind a shutdown).
                if not self.runtime.request_shutdown():
                    self.runtime.destroy()
            elif action.kind is ActionKind.DESTROY_VM:
                self.runtime.destroy()
            elif action.kind is ActionKind.MIGRATE_VM:
                if not action.address:
                    raise VmError(f"host {action.target} publishes no hostname to migrate to")
                self.runtime.migrate(
                    self.migration_uri.format(host=action.address),
                    self.migration_data_uri.format(host=action.address) if self.migration_data_uri else None,
                    unsafe=self.migration_unsafe,
                )
        except VmError as e:
            result = ActionResult(action.kind, False, e.lease_held_elsewhere, str(e))
        except HostedEngineError as e:
            result = ActionResult(action.kind, False, error=str(e))
        except Exception as e:  # a bug must not leave the action "running" forever
            logger.exception("bug while performing %s", action.kind.value)
            result = ActionResult(action.kind, False, error=f"unexpected error: {e}")
        logger.info(
            "%s finished in %.1f s: %s",
            action.kind.value,
            time.monotonic() - started,
            "ok" if result.ok else result.error,
        )
        with self._lock:
            if self._running is not running:
                return  # superseded by a power-off that went ahead: its result is not the state's
            self._running = None
            self._result = result
        self.wake()

    def action_status(self) -> tuple[ActionKind | None, ActionResult | None]:
        with self._lock:
            result, self._result = self._result, None
            return (self._running.kind if self._running else None), result

    def _alert(self, message: str) -> None:
        """Log, notify (the notifier e-mails it on its own thread) and run the alert hook point."""
        logger.error("ALERT: %s", message)
        if self.notifier is not None:
            self.notifier.alert(message)
        if not self.hooks_dir:
            return
        for script in hooks.scripts(self.hooks_dir, ALERT_HOOK_POINT):
            try:
                subprocess.run(
                    [script],
                    env={**os.environ, "HE_ALERT": message, "HE_HOST_ID": str(self.host_id)},
                    timeout=30,
                    capture_output=True,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as e:
                logger.warning("alert hook %s failed: %s", script, e)

    # -- monitors and flags ----------------------------------------------------------------------

    def monitors(self) -> MonitorValues:
        return self.broker.values()

    def local_maintenance(self) -> bool:
        """From ha.conf (kept across reboots); while it cannot be read, the last value read (a
        transient EIO must neither evict a running Engine nor put a host back in the game)."""
        try:
            self._local_maintenance = ha_conf.local_maintenance(self.ha_conf)
        except OSError as e:
            logger.warning("cannot read %s: %s; keeping local maintenance %s", self.ha_conf, e, self._local_maintenance)
        return self._local_maintenance

    # -- live migration --------------------------------------------------------------------------

    def identity(self) -> str:
        """The domain's sdUUID and the Engine VM lease's version, read from storage now."""

        def read() -> str:
            sd_uuid = StorageDomain.open(self.domain.path).identity.sd_uuid
            return f"{sd_uuid}:{self.lease.read().version}"

        return self._calls.call("reading the domain's identity", self.call_timeout, read)

    def request_migration(self, target: int) -> None:
        """The admin's request (any thread); the agent takes it on its next tick."""
        with self._lock:
            self._migrate_request = target
        self.wake()

    def take_migrate_request(self) -> int | None:
        """The pending request, once (the agent's tick; or the verb withdrawing one never taken)."""
        with self._lock:
            request, self._migrate_request = self._migrate_request, None
        return request
