"""`vdsm-hosted-engine`: the per-host daemon (RPC server, broker, agent) in one process.

Start-up refuses, with one clear sentence, when the configuration is invalid or the storage domain,
sanlock or libvirt cannot be reached; once running, failures are retried by the agent loop instead
of ending the process. SIGTERM/SIGINT: the agent publishes `stopped` (score 0) and releases its host
id unless the Engine VM holds its lease here (the VM is left running), then the server stops.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import ssl
import sys
import threading
from typing import Any

from vdsm_hosted_engine import config as config_
from vdsm_hosted_engine import instance_lock
from vdsm_hosted_engine.broker.broker import Broker
from vdsm_hosted_engine.broker.monitors.engine_health import EngineHealthMonitor, health_url
from vdsm_hosted_engine.broker.monitors.host import BridgeMonitor, CpuLoadMonitor, MemoryMonitor
from vdsm_hosted_engine.broker.monitors.network import NetworkMonitor
from vdsm_hosted_engine.broker.monitors.storage import StorageMonitor
from vdsm_hosted_engine.errors import HostedEngineError, InvalidRequest
from vdsm_hosted_engine.ha import ha_conf, metrics, notify
from vdsm_hosted_engine.ha.agent import Agent, AgentConfig
from vdsm_hosted_engine.ha.fsm import Decision, State, Timeouts
from vdsm_hosted_engine.ha.real_env import RealEnv
from vdsm_hosted_engine.ha.snapshot import Action, ActionKind
from vdsm_hosted_engine.ha.view import ClusterView
from vdsm_hosted_engine.hooks import lease_hook
from vdsm_hosted_engine.hooks.lease import LeaseSpec
from vdsm_hosted_engine.observations import VmStatus
from vdsm_hosted_engine.rpc.client import SOCKET_NAME
from vdsm_hosted_engine.rpc.server import Policy, Server, tls_context
from vdsm_hosted_engine.sd_notify import Notifier
from vdsm_hosted_engine.storage import mount as storage_mount
from vdsm_hosted_engine.storage import safe_file, shared_keys
from vdsm_hosted_engine.storage.domain import StorageDomain
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.shared_config import SharedConfig
from vdsm_hosted_engine.storage.whiteboard import Whiteboard
from vdsm_hosted_engine.verbs.api import HostedEngine, methods
from vdsm_hosted_engine.verbs.schema import Schema
from vdsm_hosted_engine.virt.domxml import VmConfig
from vdsm_hosted_engine.virt.runtime import VmRuntime

logger = logging.getLogger(__name__)

STATUS_EVENT = "|hosted-engine|status|"  # + the host id: VDSM's |<namespace>|<name>|<id>
NOTIFICATION_EVENT = "|hosted-engine|event|"  # + the host id: each state transition and alert (--events --follow)
DEFAULT_HOOKS_DIR = config_.HostConfig.hooks_dir  # hosted-engine.conf's default
MIGRATE_ANSWER_TIMEOUT = 30.0  # an agent cycle blocked this long is stuck on storage or libvirt


def read_vm_conf(path: str) -> VmConfig:
    """oVirt's vm.conf form: key=value lines."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InvalidRequest(f"cannot read the Engine VM configuration {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidRequest(f"the Engine VM configuration {path} is not UTF-8 text") from None
    values = {}
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return VmConfig.from_mapping(values)


# What any certificate from VDSM's CA may call when rpc_allowed_subjects narrows the others.
READ_ONLY_VERBS = frozenset(
    f"HostedEngine.{verb}"
    for verb in (
        "getStatus",
        "getMonitorStatus",
        "getScore",
        "getEvents",
        "getFailoverCapacity",
        "getResourceUsage",
        "getSharedConfig",
        "checkLiveliness",
    )
)


def rpc_policy(conf: config_.HostConfig) -> Policy:
    subjects = conf.rpc_allowed_subjects
    return Policy(frozenset(subjects.split(",")) if subjects else None, READ_ONLY_VERBS)


def load_tls(pki: str) -> ssl.SSLContext:
    """VDSM's PKI, loaded at start-up so that a missing or bad file is one sentence, not a traceback."""
    try:
        return tls_context(
            os.path.join(pki, "certs/vdsmcert.pem"),
            os.path.join(pki, "keys/vdsmkey.pem"),
            os.path.join(pki, "certs/cacert.pem"),
        )
    except (OSError, ssl.SSLError) as e:
        raise InvalidRequest(f"cannot load VDSM's PKI from pki_dir {pki} for rpc_listen=tls: {e}") from None


NETWORK_PROBE_TIMEOUT = 2.0


class Daemon:
    """Everything of one host, built from its configuration; `backend` for the verbs."""

    def __init__(self, conf: config_.HostConfig, settings: config_.AgentSettings) -> None:
        self.conf = conf
        self.host_id = conf.host_id
        problem = lease_hook.installation_problem(conf.hooks_dir)
        if problem is not None:
            raise InvalidRequest(problem)
        self.connection = conf.connection
        storage_mount.connect(self.connection, conf.mount_root)  # never unmounted by the daemon
        self.domain = StorageDomain.open(conf.domain_path)
        if conf.sd_uuid and conf.sd_uuid != self.domain.identity.sd_uuid:
            raise InvalidRequest(
                f"{conf.domain_path} holds domain {self.domain.identity.sd_uuid}, not sdUUID={conf.sd_uuid}"
            )
        timing = self.connection.nfs_timing_problem(self.domain.identity.io_timeout)
        if timing is not None:
            logger.warning("%s", timing)
        self.lockspace = self.domain.lockspace()
        self.lockspace.read()  # sanlock must answer (raises SanlockError with its reason)
        self.whiteboard_file = self.domain.whiteboard(self.lockspace)
        vm = read_vm_conf(conf.vm_conf)
        if conf.vmid and conf.vmid != vm.vm_uuid:
            raise InvalidRequest(f"vmid={conf.vmid} in {conf.source} but vmId={vm.vm_uuid} in {conf.vm_conf}")
        self.runtime = VmRuntime(
            conf.libvirt_uri,
            vm,
            conf.hooks_dir,
            # The hooks read the configuration this daemon runs with, not the default path.
            hook_env={"HOSTED_ENGINE_CONF": os.path.abspath(conf.source)} if conf.source else None,
            lease=LeaseSpec.of(self.domain.engine_vm_lease()),
        )
        if self.runtime.status()[0] is VmStatus.UNKNOWN:
            raise InvalidRequest(f"libvirt does not answer at {conf.libvirt_uri}")
        url = conf.health_url or (health_url(conf.fqdn) if conf.fqdn else None)
        interval = max(conf.tick, 1.0)
        self.broker = Broker(
            [
                NetworkMonitor(
                    conf.network_test,
                    conf.tcp_t_address if conf.network_test == "tcp" else conf.gateway,
                    conf.tcp_t_port,
                    interval=interval,
                    timeout=NETWORK_PROBE_TIMEOUT,  # its probes run at once: a cut shows within seconds
                ),
                BridgeMonitor(conf.bridge, interval=interval),
                MemoryMonitor(cgroup=conf.host_cgroup, interval=interval),
                CpuLoadMonitor(self.runtime.cpu_seconds, cgroup=conf.host_cgroup, interval=interval),
                EngineHealthMonitor(self.runtime.status, url, interval=interval, timeout=min(20.0, 4 * interval)),
                StorageMonitor(  # one 4 KiB block: the agent reads the whole area each tick already
                    self.whiteboard_file.read_global,
                    lambda: self.lockspace.holds(self.host_id),
                    mount_problem=lambda: storage_mount.check(self.connection, conf.mount_root),
                    interval=interval,
                ),
            ]
        )
        os.makedirs(conf.run_dir, exist_ok=True)
        self.ha_conf = ha_conf.path_for(conf.source, conf.run_dir)
        hostname = conf.hostname or os.uname().nodename
        self.notifier = notify.Notifications(
            self.host_id,
            hostname,
            lambda: self.shared_config().read()[0],
            conf.smtp_password_file,
            conf.smtp_ca_file,
            state=State.START.value,
        )
        self.env = RealEnv(
            self.host_id, self.domain, self.runtime, self.broker, self.ha_conf, conf.hooks_dir, notifier=self.notifier
        )
        self.env.migration_uri, self.env.migration_data_uri = conf.migration_uri, conf.migration_data_uri
        self.env.migration_unsafe = conf.migration_unsafe
        self.runtime.on_event = self.env.wake
        self.agent = Agent(
            self.env,
            AgentConfig(
                host_id=self.host_id,
                hostname=hostname,
                vm_mem_mib=vm.memory_mib,
                priority=conf.priority,
                tick=conf.tick,
                monitor_skew=interval + NETWORK_PROBE_TIMEOUT,
                score=settings.score,
                timeouts=Timeouts(**settings.timeouts),
            ),
        )
        self.agent.listener = self._decided
        self.metrics = metrics.Metrics(self._metrics_view, conf.metrics_textfile)
        self.agent.timing = self.metrics.observe
        self.systemd = Notifier()
        self.agent.heartbeat = lambda: self.systemd.notify("WATCHDOG=1")
        self.server = Server(methods(HostedEngine(self), Schema.load()), policy=rpc_policy(conf))
        self.tls = load_tls(conf.pki_dir) if conf.rpc_listen == "tls" else None
        self.notifier.on_event = lambda event: self.server.notify(
            f"{NOTIFICATION_EVENT}{self.host_id}", notify.as_dict(event)
        )
        self._last_event: tuple[str, int] | None = None

    # -- events --------------------------------------------------------------------------------

    def _decided(self, decision: Decision) -> None:
        self.notifier.transition(decision.state.value, decision.sentence)
        self.metrics.decided(decision, self.agent.last_snapshot)
        key = (decision.state.value, decision.score)
        if key != self._last_event:
            self._last_event = key
            self.server.notify(
                f"{STATUS_EVENT}{self.host_id}",
                {
                    "hostId": self.host_id,
                    "state": decision.state.value,
                    "score": decision.score,
                    "sentence": decision.sentence,
                },
            )

    def _metrics_view(self) -> metrics.View:
        """The agent's last cycle, for a scrape (any thread; reads whole objects only)."""
        a = self.agent
        status = self.broker.status()
        board = a.view.board if a.view is not None else None
        return metrics.View(
            self.host_id, a.last, a.last_snapshot, a.score, board, status, a.config.vm_mem_mib, a.joined
        )

    # -- the verbs' backend --------------------------------------------------------------------

    def view(self) -> tuple[ClusterView, float]:
        """The agent's last cycle's view and its age in seconds, for the read verbs: no storage I/O,
        no sanlock call (only before the agent's first cycle, one of each)."""
        view, now = self.agent.view, self.env.now()
        if view is None:
            view = ClusterView(self.whiteboard_file.read(), self.env.liveness() or {}, now)
        return view, now - view.read_at

    def whiteboard(self, fresh: bool = False) -> Whiteboard:
        """The agent's last view or, when `fresh` (a precondition another host may have just
        changed, e.g. global maintenance set on another host), one read of the whole area."""
        return self.whiteboard_file.read() if fresh else self.view()[0].board

    def liveness(self) -> dict[int, Liveness] | None:
        """sanlock's answer now (the actions' preconditions; the read verbs use `view`)."""
        return self.env.liveness()

    def lease_owner(self) -> int | None:
        """The live holder of the Engine VM lease, read now (raises when unreadable)."""
        return self.env.lease_owner()

    def agent_status(self) -> dict[str, Any]:
        return {"hostId": self.host_id, **self.agent.status()}

    def monitor_status(self) -> dict[str, Any]:
        return self.broker.status()

    def events(self) -> list[dict[str, Any]]:
        """This host's last state transitions and alerts, oldest first."""
        return [notify.as_dict(event) for event in self.notifier.events()]

    def set_global_maintenance(self, enabled: bool) -> None:
        self.whiteboard_file.set_global_maintenance(self.host_id, enabled)
        self.env.wake()

    def set_local_maintenance(self, enabled: bool) -> None:
        ha_conf.set_local_maintenance(self.ha_conf, enabled)
        self.env.wake()

    def vm_status(self) -> tuple[VmStatus, str]:
        return self.runtime.status()

    def vm_action(self, kind: ActionKind) -> None:
        if kind is ActionKind.START_VM:
            self.runtime.start()
        elif kind is ActionKind.SHUTDOWN_VM:
            self.runtime.shutdown(self.env.shutdown_grace)
        elif kind is ActionKind.DESTROY_VM:
            self.runtime.destroy()
        else:
            self.env.begin(Action(kind))

    def request_migration(self, host_id: int) -> int:
        """The agent's answer to the request: the destination it started migrating to, or
        InvalidRequest with the cycle's reason."""
        answer, withdrawn = self.agent.ask_migration(host_id, MIGRATE_ANSWER_TIMEOUT)
        if answer is None:
            fate = "withdrawn" if withdrawn else "taken meanwhile: see getScore for what came of it"
            raise InvalidRequest(
                f"the agent did not answer within {MIGRATE_ANSWER_TIMEOUT:.0f} s (its last cycle: "
                f"{self.agent.status()['sentence']}); the request was {fate}"
            )
        if answer.target is None:
            # The sentence says it already: "no action: live migration [to host N ]refused: <why>".
            raise InvalidRequest(answer.sentence.removeprefix("no action: "))
        return answer.target

    def clean_slot(self, host_id: int) -> None:
        self.whiteboard_file.clear_host_slot(host_id, self.host_id)

    def wake(self) -> None:
        self.env.wake()

    def join_host(self, storage: str, hostname: str) -> int:
        raise InvalidRequest(f"this host is configured already (host id {self.host_id})")

    def vm_config(self) -> VmConfig:
        return self.runtime.vm

    def vm_cpu_seconds(self) -> float | None:
        return self.runtime.cpu_seconds()

    def spare_count(self) -> int:
        return self.conf.spare_hosts

    def shared_config(self) -> SharedConfig:
        return SharedConfig(self.domain.shared_conf_path)

    def local_config(self, key: str, value: str | None = None) -> str:
        """Read, or validate and write, one key of this host's hosted-engine.conf."""
        schema = {k.name: k for k in config_.HOST_KEYS}
        if key not in schema:
            raise InvalidRequest(f"{key!r} is not a hosted-engine.conf key")
        current = config_.load_host_config(self.conf.source)
        if value is None:
            found = getattr(current, schema[key].attr)
            if found is None:
                raise InvalidRequest(f"{key} is not set in {self.conf.source}")
            return str(found)
        if key not in config_.LOCAL_WRITABLE_KEYS:
            raise InvalidRequest(f"{key} cannot be changed remotely; edit {self.conf.source} on the host")
        shared_keys.check_line(key, value)  # a line break would add keys of its own
        text = config_.render_host_config(current)
        lines = [line for line in text.splitlines() if not line.startswith(f"{key}=")] + [f"{key}={value}"]
        updated = config_.parse_host_config("\n".join(lines) + "\n", self.conf.source)  # validates, raises
        try:
            safe_file.replace(self.conf.source, config_.render_host_config(updated).encode("utf-8"))
        except OSError as e:
            raise InvalidRequest(f"cannot write {self.conf.source}: {e.strerror}") from None
        return str(getattr(updated, schema[key].attr))

    def reinitialize_lockspace(self) -> None:
        """Leave, write the lockspace afresh (same io_timeout), and let the agent rejoin."""
        with self.env.lockspace_paused():
            self.lockspace.leave(self.host_id)
            self.lockspace.initialize(self.lockspace.read().io_timeout)
        logger.warning("lockspace reinitialized by an admin request")
        self.env.wake()

    # -- running -------------------------------------------------------------------------------

    def run(self) -> None:
        self.server.listen_unix(os.path.join(self.conf.run_dir, SOCKET_NAME))
        if self.conf.rpc_listen == "plain":
            self.server.listen_tcp(self.conf.rpc_address, self.conf.rpc_port, allow_plain=True)
        elif self.tls is not None:
            self.server.listen_tcp(self.conf.rpc_address, self.conf.rpc_port, tls=self.tls)
        self.server.start()
        self.broker.start()
        self.notifier.start()
        scrape = metrics.serve(
            self.metrics.registry, self.conf.metrics_address, self.conf.metrics_port, self.conf.pki_dir
        )
        self.systemd.notify("READY=1")
        try:
            self.agent.run()
        finally:
            if scrape is not None:
                scrape.shutdown()
                scrape.server_close()
            self.notifier.stop(timeout=1.0)
            self.broker.stop()
            self.server.stop()
            self.runtime.close()
            logger.info("daemon stopped")

    def stop(self) -> None:
        self.agent.stop()


class Unconfigured:
    """A host with no configuration yet: the daemon serves only `joinHost` (the Engine adds the host
    remotely); every other verb says the host is not deployed."""

    def __init__(self, conf_dir: str, run_dir: str, hooks_dir: str = DEFAULT_HOOKS_DIR) -> None:
        self.conf_dir = conf_dir
        self.run_dir = run_dir
        self.hooks_dir = hooks_dir
        self.host_id = 0

    def __getattr__(self, name: str):
        def refuse(*args, **kwargs):
            raise InvalidRequest("this host is not deployed: join it first (HostedEngine.joinHost)")

        return refuse

    def join_host(self, storage: str, hostname: str) -> int:
        from vdsm_hosted_engine.deploy.join import join
        from vdsm_hosted_engine.deploy.steps import HostPaths

        paths = HostPaths(conf_dir=self.conf_dir, run_dir=self.run_dir, hooks_dir=self.hooks_dir)
        host_id = join(storage, paths, hostname or os.uname().nodename)
        logger.info("joined as host id %d; restart vdsm-hosted-engine to run the agent", host_id)
        return host_id


def serve_unconfigured(conf_dir: str, run_dir: str, hooks_dir: str = DEFAULT_HOOKS_DIR) -> int:
    os.makedirs(run_dir, exist_ok=True)
    server = Server(methods(HostedEngine(Unconfigured(conf_dir, run_dir, hooks_dir)), Schema.load()))
    server.listen_unix(os.path.join(run_dir, SOCKET_NAME))
    server.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logger.info("not configured: serving HostedEngine.joinHost only")
    stop.wait()
    server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vdsm-hosted-engine", description="hosted-engine HA daemon")
    parser.add_argument("--config", default=os.environ.get("HOSTED_ENGINE_CONF", config_.HOSTED_ENGINE_CONF))
    parser.add_argument("--agent-config", default=config_.AGENT_CONF)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--log-file", help="log here instead of stderr (logrotate: copytruncate)")
    parser.add_argument("--validate-config", action="store_true", help="check the configuration and exit")
    parser.add_argument(
        "--unconfigured",
        action="store_true",
        help="without a configuration, serve only HostedEngine.joinHost (on --run-dir)",
    )
    parser.add_argument("--run-dir", default="/run/vdsm-hosted-engine", help="with --unconfigured")
    parser.add_argument(
        "--hooks-dir", default=DEFAULT_HOOKS_DIR, help="with --unconfigured: the VDSM hooks a joined host uses"
    )
    args = parser.parse_args(argv)
    if args.log_file:  # root's only, whatever the umask (the unit sets 0077; a shell may not)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(args.log_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    logging.basicConfig(
        level=args.log_level.upper(), filename=args.log_file, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.unconfigured and not os.path.exists(args.config):
        try:
            instance_lock.acquire(args.run_dir)
        except (HostedEngineError, OSError) as e:
            print(f"vdsm-hosted-engine: cannot start: {e}", file=sys.stderr)
            return 1
        return serve_unconfigured(os.path.dirname(args.config), args.run_dir, args.hooks_dir)
    try:
        conf = config_.load_host_config(args.config)
        settings = config_.load_agent_config(args.agent_config)
        if args.validate_config:
            print(f"{args.config}: ok")
            return 0
        daemon = Daemon(conf, settings)  # touches nothing another daemon of this conf uses
        instance_lock.acquire(conf.run_dir)  # held until the process ends; before the socket
    except (HostedEngineError, OSError) as e:
        print(f"vdsm-hosted-engine: cannot start: {e}", file=sys.stderr)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: threading.Thread(target=daemon.stop, daemon=True).start())
    daemon.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
