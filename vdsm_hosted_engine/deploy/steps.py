"""Deploy steps: check everything first, then change things one step at a time, undoing on failure.

Checks (nothing changes): sanlock answers; libvirt answers; the storage path supports O_DIRECT and
holds no hosted-engine domain (unless forced); the hooks directory holds the lease hook. What one
answer decides (the gateway answers, the bridge is a bridge, the appliance is a disk image that fits
the disk, memory and CPUs this host can give) was checked at its question (deploy/validators.py).

Steps: create the domain (lockspace, lease, whiteboard) -> copy the appliance into it (`qemu-img
convert`, progress shown) -> write the shared configuration, vm.conf and hosted-engine.conf (host id
1) -> join the lockspace -> start the Engine VM through the VM runtime and the hook directories, in
global maintenance so nothing else acts -> wait for the health page to say "DB Up" -> hand the VM to
HA (global maintenance off). A failing step undoes every earlier one, newest first, and the error
says which step failed; an undo that fails is reported with what is left to clean by hand.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vdsm_hosted_engine import config as config_
from vdsm_hosted_engine import constants
from vdsm_hosted_engine.broker.monitors.engine_health import HEALTHY_MARKER
from vdsm_hosted_engine.deploy import cleanup, cloud_init, service, storage_connection
from vdsm_hosted_engine.errors import HostedEngineError, StorageError
from vdsm_hosted_engine.hooks import lease_hook
from vdsm_hosted_engine.hooks.lease import LeaseSpec
from vdsm_hosted_engine.storage.connection import DEFAULT_MOUNT_ROOT
from vdsm_hosted_engine.storage.domain import StorageDomain, check_directory
from vdsm_hosted_engine.storage.shared_config import SharedConfig
from vdsm_hosted_engine.virt.domxml import VmConfig
from vdsm_hosted_engine.virt.runtime import VmRuntime

logger = logging.getLogger(__name__)


class DeployError(HostedEngineError):
    """A check or a step failed; `left` lists what could not be undone."""

    expected = True

    def __init__(self, message: str, left: list[str] | None = None) -> None:
        self.left = left or []
        if self.left:
            message += "\nleft behind (clean by hand): " + "; ".join(self.left)
        super().__init__(message)


class DeployInterrupted(DeployError):
    """Ctrl-C (SIGINT) stopped a step; what was done was undone."""


def _undone(left: list[str]) -> str:
    return "what deploy had done was undone" if not left else "deploy could not undo everything"


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _restore(path: str) -> Callable[[], None]:
    """The undo of writing `path`: its earlier content back (deploy --force over an earlier
    configuration), or no file."""
    try:
        with open(path, encoding="utf-8") as f:
            before: str | None = f.read()
    except FileNotFoundError:
        before = None

    def revert() -> None:
        if before is None:
            _unlink(path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(before)

    return revert


class Reporter(Protocol):
    def step(self, name: str) -> None: ...
    def progress(self, fraction: float) -> None: ...
    def waiting(self, what: str, elapsed: float, timeout: float) -> None: ...
    def info(self, text: str) -> None: ...


@dataclass(frozen=True)
class HostPaths:
    """Where this host's files go (every path overridable: the lab runs several hosts on one machine)."""

    conf_dir: str = constants.DEFAULT_CONF_DIR
    run_dir: str = "/run/vdsm-hosted-engine"
    hooks_dir: str = "/usr/libexec/vdsm/hooks"
    libvirt_uri: str = "qemu:///system"
    domain_type: str = "kvm"
    mnt_root: str = DEFAULT_MOUNT_ROOT  # where a storage connection is mounted (storage/connection.py)

    @property
    def host_conf(self) -> str:
        return os.path.join(self.conf_dir, "hosted-engine.conf")

    @property
    def vm_conf(self) -> str:
        return os.path.join(self.conf_dir, "vm.conf")


@dataclass
class Deployment:
    answers: dict[str, Any]
    paths: HostPaths
    reporter: Reporter
    force: bool = False
    health_timeout: float = 900.0
    start_ha: bool = False  # start the daemon through systemd and wait for its agent's EngineUp
    sd_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    vm_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    image_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    volume_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    runtime: VmRuntime | None = None
    domain: StorageDomain | None = None
    _undo_stack: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def a(self, key: str) -> Any:
        return self.answers[f"OVEHOSTED_{key}"]

    @property
    def storage(self) -> str:
        return storage_connection.domain_path(self.answers, self.paths.mnt_root)

    @property
    def disk_path(self) -> str:
        return os.path.join(self.storage, constants.IMAGES_DIR, self.image_uuid, self.volume_uuid)

    @property
    def seed_path(self) -> str | None:
        """The cloud-init seed ISO, next to the disk on the shared storage (every host attaches it)."""
        if not self.answers.get("OVEHOSTED_VM/cloudInit"):
            return None
        return os.path.join(os.path.dirname(self.disk_path), "cloud-init-seed.iso")

    def seed(self) -> cloud_init.Seed:
        """The Engine VM's first-boot configuration, from the answers."""
        network = None
        if self.answers.get("OVEHOSTED_VM/cloudinitNetwork") == "static":
            dns = self.answers.get("OVEHOSTED_VM/cloudinitVMDNS")
            fqdn = self.a("VM/fqdn")
            search = (fqdn.split(".", 1)[1],) if "." in fqdn and not fqdn.replace(".", "").isdigit() else ()
            network = cloud_init.StaticNetwork(
                self.a("VM/cloudinitVMStaticCIDR"),
                self.a("NETWORK/gateway"),
                tuple(dns.split(",")) if dns else (),
                search,
            )
        script = self.answers.get("OVEHOSTED_VM/setupScript")
        if script:
            with open(script, encoding="utf-8") as f:
                script = f.read()
        return cloud_init.Seed(
            instance_id=self.vm_uuid,
            fqdn=self.a("VM/fqdn"),
            mac=self.a("VM/mac"),
            network=network,
            root_password_hash=self.answers.get("OVEHOSTED_VM/rootPassword"),
            ssh_key=self.answers.get("OVEHOSTED_VM/rootSshPubkey"),
            setup_script=script,
        )

    # -- checks ----------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Every problem found before anything changes (empty: go)."""
        problems = []
        sanlock = subprocess.run(["sanlock", "client", "status"], capture_output=True, text=True, check=False)
        if sanlock.returncode != 0:
            problems.append(f"sanlock does not answer: {(sanlock.stderr or sanlock.stdout).strip()}")
        try:
            import libvirt

            libvirt.open(self.paths.libvirt_uri).close()
        except Exception as e:  # libvirt raises libvirtError; any failure means "not reachable"
            problems.append(f"libvirt does not answer at {self.paths.libvirt_uri}: {e}")
        storage_problems = storage_connection.prepare(self.answers, self.a("STORAGE/ioTimeout"), self.paths.mnt_root)
        problems += storage_problems
        if not storage_problems:  # (a connection that failed has no directory to check)
            try:
                check_directory(self.storage)
                if StorageDomain.exists_at(self.storage) and not self.force:
                    problems.append(f"{self.storage} already holds a hosted-engine domain (deploy --force replaces it)")
            except StorageError as e:
                problems.append(str(e))
        hook_problem = lease_hook.installation_problem(self.paths.hooks_dir)
        if hook_problem is not None:
            problems.append(hook_problem)
        if not self.force:
            problems += [
                f"{left} (an earlier deploy?): hosted-engine --cleanup removes it, deploy --force replaces it"
                for left in self.leftovers()
            ]
        return problems

    def leftovers(self) -> list[str]:
        """What an earlier deploy left on this host: its configuration, its Engine VM."""
        found = [f"{path} exists" for path in (self.paths.host_conf, self.paths.vm_conf) if os.path.exists(path)]
        try:
            conn, dom = cleanup.engine_vm(self.paths.libvirt_uri)
        except Exception:  # libvirt not reachable: check() says so
            return found
        with contextlib.closing(conn):
            if dom is not None:
                found.append(f"the Engine VM {dom.name()} is defined in {self.paths.libvirt_uri}")
        return found

    # -- steps -----------------------------------------------------------------------------------

    def run(self) -> None:
        problems = self.check()
        if problems:
            raise DeployError("nothing was changed, because:\n  " + "\n  ".join(problems))
        steps: list[tuple[str, Callable[[], None]]] = [
            ("Creating the storage domain", self._create_domain),
            ("Copying the appliance into the domain", self._copy_appliance),
            ("Writing the Engine VM's cloud-init seed", self._write_seed),
            ("Writing the configuration", self._write_config),
            ("Joining the lockspace as host 1", self._join),
            ("Starting the Engine VM", self._start_vm),
            ("Waiting for the Engine to be healthy", self._wait_healthy),
            ("Handing the Engine VM to HA", self._hand_over),
        ]
        if not self.answers.get("OVEHOSTED_VM/cloudInit"):
            steps = [step for step in steps if step[1] != self._write_seed]
        if self.start_ha:
            steps.append(("Starting the HA agent (systemd)", self._start_ha))
        if self.force and self.leftovers():
            steps.insert(0, ("Removing what an earlier deploy left on this host (not undone)", self._clean_earlier))
        self._undo_stack.clear()
        name = steps[0][0]
        try:  # the whole loop: Ctrl-C may land between two steps too
            for name, action in steps:
                self.reporter.step(name)
                action()
        except KeyboardInterrupt:
            left = self._undo()
            raise DeployInterrupted(f"interrupted at: {name}; {_undone(left)}", left) from None
        except Exception as e:
            logger.exception("deploy step failed: %s", name)
            left = self._undo()
            raise DeployError(f"{name} failed: {e}; {_undone(left)}", left) from None
        self.reporter.info(f"The Engine VM runs on this host; its health page: {self.a('VM/healthUrl')}")
        self._undo_stack.clear()  # done: nothing is undone any more

    def _will_undo(self, what: str, revert: Callable[[], None]) -> None:
        """Register how to undo a change, before making it: an interruption in the middle of a step
        then undoes what that step had begun (so every revert tolerates a change not made)."""
        self._undo_stack.append((what, revert))

    def _undo(self) -> list[str]:
        """Undo every registered change, newest first; what could not be undone. A second Ctrl-C does
        not stop it (SIGINT is ignored meanwhile, in the main thread where Python delivers it)."""
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        left = []
        try:
            while self._undo_stack:
                what, revert = self._undo_stack.pop()
                self.reporter.info(f"undoing: {what}")
                try:
                    revert()
                except Exception as e:
                    logger.warning("undo failed: %s: %s", what, e)
                    left.append(f"{what}: {e}")
        finally:
            if main:
                signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
        return left

    def _clean_earlier(self) -> None:
        result = cleanup.cleanup(self.paths.conf_dir, self.paths.run_dir, self.paths.libvirt_uri, force=True)
        for what in result.removed:
            self.reporter.info(f"removed {what}")
        if result.left:
            raise DeployError("an earlier deploy's leftovers remain: " + "; ".join(result.left))

    def _create_domain(self) -> None:
        created = [
            os.path.join(self.storage, p)
            for p in (constants.HA_AGENT_DIR, constants.IMAGES_DIR)
            if not os.path.exists(os.path.join(self.storage, p))
        ]

        def revert() -> None:
            for path in created:
                shutil.rmtree(path, ignore_errors=True)

        self._will_undo("Creating the storage domain", revert)
        self.domain = StorageDomain.create(
            self.storage,
            io_timeout=self.a("STORAGE/ioTimeout"),
            sd_uuid=self.sd_uuid,
            force=self.force,
            now=time.time(),
        )

    def _copy_appliance(self) -> None:
        image_dir = os.path.dirname(self.disk_path)
        self._will_undo("Copying the appliance into the domain", lambda: shutil.rmtree(image_dir, ignore_errors=True))
        os.makedirs(image_dir)
        process = subprocess.Popen(
            ["qemu-img", "convert", "-p", "-O", "raw", self.a("VM/applianceImage"), self.disk_path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        shown = 0.0
        try:
            buffer = ""
            while True:
                chunk = process.stdout.read(64)
                if not chunk:
                    break
                buffer += chunk
                found = re.findall(r"\((\d+(?:\.\d+)?)/100%\)", buffer)
                if found:
                    shown = float(found[-1]) / 100
                    self.reporter.progress(shown)
                    buffer = buffer[-32:]
            if process.wait() != 0:
                stderr = process.stderr.read().strip() if process.stderr else ""
                raise DeployError(f"qemu-img convert failed: {stderr}")
        finally:
            if process.poll() is None:  # interrupted: the copy stops before its directory is removed
                process.kill()
                process.wait()
        subprocess.run(
            ["qemu-img", "resize", "-q", "-f", "raw", self.disk_path, f"{self.a('VM/diskSizeGiB')}G"],
            check=True,
            capture_output=True,
        )
        if shown < 1.0:
            self.reporter.progress(1.0)

    def _write_seed(self) -> None:
        path = self.seed_path
        assert path is not None
        self._will_undo("Writing the Engine VM's cloud-init seed", lambda: _unlink(path))
        cloud_init.build_seed(self.seed(), path)

    def vm_config(self) -> VmConfig:
        return VmConfig(
            vm_uuid=self.vm_uuid,
            memory_mib=self.a("VM/memMiB"),
            vcpus=self.a("VM/vcpus"),
            domain_type=self.paths.domain_type,
            disk_path=self.disk_path,
            bridge=self.a("NETWORK/bridgeName"),
            mac=self.a("VM/mac"),
            kernel=self.answers.get("OVEHOSTED_VM/kernel"),
            initrd=self.answers.get("OVEHOSTED_VM/initrd"),
            cmdline=self.answers.get("OVEHOSTED_VM/cmdline"),
            cdrom=self.seed_path,
        )

    def vm_conf_text(self) -> str:
        vm = self.vm_config()
        values = {
            "vmId": vm.vm_uuid,
            "vmName": vm.name,
            "memSize": vm.memory_mib,
            "smp": vm.vcpus,
            "domainType": vm.domain_type,
            "diskPath": vm.disk_path,
            "bridge": vm.bridge,
            "macAddr": vm.mac,
            "kernel": vm.kernel,
            "initrd": vm.initrd,
            "cmdline": vm.cmdline,
            "cdrom": vm.cdrom,
        }
        return "".join(f"{k}={v}\n" for k, v in values.items() if v is not None)

    def _write_config(self) -> None:
        assert self.domain is not None
        shared = SharedConfig(self.domain.shared_conf_path)
        for key, value in self.shared_values().items():
            shared.set(key, str(value))
        os.makedirs(self.paths.conf_dir, exist_ok=True)
        for path, text in ((self.paths.vm_conf, self.vm_conf_text()), (self.paths.host_conf, self.host_conf_text(1))):
            if os.path.exists(path) and not self.force:
                raise DeployError(f"{path} exists (an earlier deploy?); deploy --force replaces it")
            self._will_undo(f"writing {path}", _restore(path))
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        config_.load_host_config(self.paths.host_conf)  # what we wrote must load

    def shared_values(self) -> dict[str, Any]:
        """What joining hosts read from the domain: the VM and the cluster-wide settings."""
        values: dict[str, Any] = {
            f"vm.{k}": v for k, v in (line.split("=", 1) for line in self.vm_conf_text().splitlines())
        }
        for key in (
            "VM/fqdn",
            "VM/healthUrl",
            "NETWORK/gateway",
            "NETWORK/networkTest",
            "NETWORK/bridgeName",
            "HA/spareHosts",
        ):
            values[f"he.{key.split('/')[1]}"] = self.a(key)
        for key in (
            "NETWORK/networkTestTarget",
            "NETWORK/networkTestPort",
            "NOTIF/smtpServer",
            "NOTIF/smtpPort",
            "NOTIF/sourceEmail",
            "NOTIF/destEmails",
        ):
            if self.answers.get(f"OVEHOSTED_{key}") is not None:
                values[f"he.{key.split('/')[1]}"] = self.answers[f"OVEHOSTED_{key}"]
        return values

    def host_conf_text(self, host_id: int) -> str:
        test = self.a("NETWORK/networkTest")
        conf = config_.HostConfig(
            host_id=host_id,
            **storage_connection.conf_values(self.answers),
            mnt_root=None if self.paths.mnt_root == DEFAULT_MOUNT_ROOT else self.paths.mnt_root,
            sd_uuid=self.sd_uuid,
            vmid=self.vm_uuid,
            fqdn=self.a("VM/fqdn"),
            gateway=self.a("NETWORK/gateway"),
            bridge=self.a("NETWORK/bridgeName"),
            network_test=test,
            tcp_t_address=self.answers.get("OVEHOSTED_NETWORK/networkTestTarget") if test == "tcp" else None,
            tcp_t_port=self.answers.get("OVEHOSTED_NETWORK/networkTestPort") if test == "tcp" else None,
            priority=self.a("HA/priority"),
            libvirt_uri=self.paths.libvirt_uri,
            run_dir=self.paths.run_dir,
            hooks_dir=self.paths.hooks_dir,
            vm_conf=self.paths.vm_conf,
            health_url=self.a("VM/healthUrl"),
            spare_hosts=self.a("HA/spareHosts"),
        )
        return config_.render_host_config(conf)

    def _join(self) -> None:
        assert self.domain is not None
        lockspace = self.domain.lockspace()
        self._will_undo("Joining the lockspace as host 1", lambda: lockspace.leave(1))
        lockspace.join(1)

    def _start_vm(self) -> None:
        assert self.domain is not None
        self.domain.whiteboard(self.domain.lockspace()).set_global_maintenance(1, True)
        # Our own lease hook reads the configuration just written.
        self.runtime = VmRuntime(
            self.paths.libvirt_uri,
            self.vm_config(),
            self.paths.hooks_dir,
            hook_env={"HOSTED_ENGINE_CONF": self.paths.host_conf},
            lease=LeaseSpec.of(self.domain.engine_vm_lease()),
        )
        self._will_undo("Starting the Engine VM", self.runtime.destroy)
        self.runtime.start()

    def _wait_healthy(self) -> None:
        url = self.a("VM/healthUrl")
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if HEALTHY_MARKER in response.read(65536).decode("utf-8", "replace"):
                        self.reporter.info(f"the Engine is healthy after {time.monotonic() - started:.1f} s")
                        return
            except (OSError, ValueError):
                pass
            if elapsed > self.health_timeout:
                raise DeployError(
                    f"the Engine did not report {HEALTHY_MARKER!r} at {url} within {self.health_timeout:.0f} s"
                )
            self.reporter.waiting(f"{url} to say {HEALTHY_MARKER!r}", elapsed, self.health_timeout)
            time.sleep(2)

    def _start_ha(self) -> None:
        """Start the daemon and wait until this host's agent reports EngineUp on the whiteboard."""
        assert self.domain is not None
        self._will_undo("Starting the HA agent", service.stop)
        service.start()
        board = self.domain.whiteboard()
        started = time.monotonic()
        while True:
            slot = board.read().hosts.get(1)
            if slot is not None and slot.state == "EngineUp":
                self.reporter.info(f"the agent reports EngineUp after {time.monotonic() - started:.1f} s")
                return
            elapsed = time.monotonic() - started
            if elapsed > self.health_timeout:
                state = slot.state if slot is not None else "nothing"
                raise DeployError(f"the HA agent reported {state}, not EngineUp, within {self.health_timeout:.0f} s")
            self.reporter.waiting("the HA agent to report EngineUp", elapsed, self.health_timeout)
            time.sleep(2)

    def _hand_over(self) -> None:
        assert self.domain is not None
        self.domain.whiteboard(self.domain.lockspace()).set_global_maintenance(1, False)
