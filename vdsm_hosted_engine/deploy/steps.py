"""Deploy steps: check everything first, then change things one step at a time, undoing on failure.

Checks (nothing changes): sanlock answers; libvirt answers; memory for the VM plus a margin; the
bridge exists; the gateway answers the chosen network test; the storage path exists, is writable,
supports O_DIRECT, has room for the disk and holds no hosted-engine domain (unless forced); the
appliance is an image `qemu-img info` reads whose virtual size fits the disk; the hooks directory
holds the lease hook.

Steps: create the domain (lockspace, lease, whiteboard) -> copy the appliance into it (`qemu-img
convert`, progress shown) -> write the shared configuration, vm.conf and hosted-engine.conf (host id
1) -> join the lockspace -> start the Engine VM through the VM runtime and the hook directories, in
global maintenance so nothing else acts -> wait for the health page to say "DB Up" -> hand the VM to
HA (global maintenance off). A failing step undoes every earlier one, newest first, and the error
says which step failed; an undo that fails is reported with what is left to clean by hand.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vdsm_hosted_engine import config as config_
from vdsm_hosted_engine import constants
from vdsm_hosted_engine.broker.monitors.engine_health import HEALTHY_MARKER
from vdsm_hosted_engine.broker.monitors.network import NetworkMonitor
from vdsm_hosted_engine.deploy import machine, storage_connection
from vdsm_hosted_engine.errors import HostedEngineError, StorageError
from vdsm_hosted_engine.hooks import lease_hook
from vdsm_hosted_engine.hooks.lease import LeaseSpec
from vdsm_hosted_engine.storage.connection import DEFAULT_MOUNT_ROOT
from vdsm_hosted_engine.storage.domain import StorageDomain, check_directory
from vdsm_hosted_engine.storage.shared_config import SharedConfig
from vdsm_hosted_engine.virt.domxml import VmConfig
from vdsm_hosted_engine.virt.runtime import VmRuntime

logger = logging.getLogger(__name__)

MEMORY_MARGIN_MIB = 512


class DeployError(HostedEngineError):
    """A check or a step failed; `left` lists what could not be undone."""

    expected = True

    def __init__(self, message: str, left: list[str] | None = None) -> None:
        self.left = left or []
        if self.left:
            message += "\nleft behind (clean by hand): " + "; ".join(self.left)
        super().__init__(message)


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
    sd_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    vm_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    image_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    volume_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    runtime: VmRuntime | None = None
    domain: StorageDomain | None = None

    def a(self, key: str) -> Any:
        return self.answers[f"OVEHOSTED_{key}"]

    @property
    def storage(self) -> str:
        return storage_connection.domain_path(self.answers, self.paths.mnt_root)

    @property
    def disk_path(self) -> str:
        return os.path.join(self.storage, constants.IMAGES_DIR, self.image_uuid, self.volume_uuid)

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
        available = machine.mem_available_mib()
        if available and self.a("VM/memMiB") > available - MEMORY_MARGIN_MIB:
            problems.append(
                f"the Engine VM's {self.a('VM/memMiB')} MiB do not fit in {available} MiB available "
                f"minus {MEMORY_MARGIN_MIB}"
            )
        if self.a("VM/vcpus") > machine.cpu_count():
            problems.append(f"{self.a('VM/vcpus')} vCPUs, but this host has {machine.cpu_count()}")
        bridge = self.a("NETWORK/bridgeName")
        if not os.path.exists(f"/sys/class/net/{bridge}"):
            problems.append(f"the management bridge {bridge} does not exist")
        test = self.a("NETWORK/networkTest")
        if test != "none":
            target = self.answers.get("OVEHOSTED_NETWORK/networkTestTarget") or self.a("NETWORK/gateway")
            monitor = NetworkMonitor(
                test, target, self.answers.get("OVEHOSTED_NETWORK/networkTestPort"), probes=1, timeout=3
            )
            if monitor.probe() == 0:
                problems.append(f"the gateway does not answer the {test} test ({target})")
        storage_problems = storage_connection.prepare(self.answers, self.a("STORAGE/ioTimeout"), self.paths.mnt_root)
        problems += storage_problems
        if not storage_problems:  # (a connection that failed has no directory to check)
            try:
                check_directory(self.storage)
                if StorageDomain.exists_at(self.storage) and not self.force:
                    problems.append(f"{self.storage} already holds a hosted-engine domain (deploy --force replaces it)")
                free = shutil.disk_usage(self.storage).free
                if free < self.a("VM/diskSizeGiB") * 1024**3:
                    problems.append(
                        f"{self.storage} has {free // 1024**3} GiB free, the disk needs {self.a('VM/diskSizeGiB')}"
                    )
            except StorageError as e:
                problems.append(str(e))
        problems += self._check_appliance()
        hook_problem = lease_hook.installation_problem(self.paths.hooks_dir)
        if hook_problem is not None:
            problems.append(hook_problem)
        return problems

    def _check_appliance(self) -> list[str]:
        image = self.a("VM/applianceImage")
        result = subprocess.run(
            ["qemu-img", "info", "--output=json", image], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            return [f"qemu-img cannot read the appliance {image}: {result.stderr.strip()}"]
        info = json.loads(result.stdout)
        if info["virtual-size"] > self.a("VM/diskSizeGiB") * 1024**3:
            return [
                f"the appliance's virtual size {info['virtual-size']} bytes exceeds the {self.a('VM/diskSizeGiB')} "
                "GiB disk"
            ]
        return []

    # -- steps -----------------------------------------------------------------------------------

    def run(self) -> None:
        problems = self.check()
        if problems:
            raise DeployError("nothing was changed, because:\n  " + "\n  ".join(problems))
        undo: list[tuple[str, Callable[[], None]]] = []
        steps: list[tuple[str, Callable[[], Callable[[], None] | None]]] = [
            ("Creating the storage domain", self._create_domain),
            ("Copying the appliance into the domain", self._copy_appliance),
            ("Writing the configuration", self._write_config),
            ("Joining the lockspace as host 1", self._join),
            ("Starting the Engine VM", self._start_vm),
            ("Waiting for the Engine to be healthy", self._wait_healthy),
            ("Handing the Engine VM to HA", self._hand_over),
        ]
        for name, action in steps:
            self.reporter.step(name)
            try:
                revert = action()
            except Exception as e:
                logger.exception("deploy step failed: %s", name)
                left = self._undo(undo)
                raise DeployError(f"{name} failed: {e}; everything deploy created was removed", left) from None
            if revert is not None:
                undo.append((name, revert))
        self.reporter.info(f"The Engine VM runs on this host; its health page: {self.a('VM/healthUrl')}")

    def _undo(self, undo: list[tuple[str, Callable[[], None]]]) -> list[str]:
        left = []
        for name, revert in reversed(undo):
            self.reporter.info(f"undoing: {name}")
            try:
                revert()
            except Exception as e:
                left.append(f"{name}: {e}")
        return left

    def _create_domain(self) -> Callable[[], None]:
        created = [
            p
            for p in (constants.HA_AGENT_DIR, constants.IMAGES_DIR)
            if not os.path.exists(os.path.join(self.storage, p))
        ]
        self.domain = StorageDomain.create(
            self.storage,
            io_timeout=self.a("STORAGE/ioTimeout"),
            sd_uuid=self.sd_uuid,
            force=self.force,
            now=time.time(),
        )

        def revert() -> None:
            for part in created:
                shutil.rmtree(os.path.join(self.storage, part))

        return revert

    def _copy_appliance(self) -> Callable[[], None]:
        os.makedirs(os.path.dirname(self.disk_path))
        process = subprocess.Popen(
            ["qemu-img", "convert", "-p", "-O", "raw", self.a("VM/applianceImage"), self.disk_path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        buffer = ""
        while True:
            chunk = process.stdout.read(64)
            if not chunk:
                break
            buffer += chunk
            found = re.findall(r"\((\d+(?:\.\d+)?)/100%\)", buffer)
            if found:
                self.reporter.progress(float(found[-1]) / 100)
                buffer = buffer[-32:]
        if process.wait() != 0:
            raise DeployError(f"qemu-img convert failed: {process.stderr.read().strip() if process.stderr else ''}")
        subprocess.run(
            ["qemu-img", "resize", "-q", "-f", "raw", self.disk_path, f"{self.a('VM/diskSizeGiB')}G"],
            check=True,
            capture_output=True,
        )
        self.reporter.progress(1.0)
        return lambda: shutil.rmtree(os.path.dirname(self.disk_path))

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
        }
        return "".join(f"{k}={v}\n" for k, v in values.items() if v is not None)

    def _write_config(self) -> Callable[[], None]:
        assert self.domain is not None
        shared = SharedConfig(self.domain.shared_conf_path)
        for key, value in self.shared_values().items():
            shared.set(key, str(value))
        os.makedirs(self.paths.conf_dir, exist_ok=True)
        written = []
        for path, text in ((self.paths.vm_conf, self.vm_conf_text()), (self.paths.host_conf, self.host_conf_text(1))):
            if os.path.exists(path) and not self.force:
                raise DeployError(f"{path} exists (an earlier deploy?); deploy --force replaces it")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            written.append(path)
        config_.load_host_config(self.paths.host_conf)  # what we wrote must load

        def revert() -> None:
            for path in written:
                os.unlink(path)

        return revert

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

    def _join(self) -> Callable[[], None]:
        assert self.domain is not None
        lockspace = self.domain.lockspace()
        lockspace.join(1)
        return lambda: lockspace.leave(1)

    def _start_vm(self) -> Callable[[], None]:
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
        self.runtime.start()
        return self.runtime.destroy

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

    def _hand_over(self) -> None:
        assert self.domain is not None
        self.domain.whiteboard(self.domain.lockspace()).set_global_maintenance(1, False)
