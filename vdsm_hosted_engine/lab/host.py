"""One lab host seen from the root namespace: its folder, its namespaces' PID 1, its veth.

`start()` prepares the host's folder (a copy of /etc/libvirt configured for the lab and for our
lease, `hosted-engine --configure-host` style), launches `hostinit` as PID 1 of new namespaces,
moves the veth peer in as `eth0` and waits for `ready`. `crash()` SIGKILLs that PID 1 (the kernel
then kills everything in the namespace at once); it is verified by its start time first, so a
recycled pid is never signalled. `run()`/`spawn()` enter the host's namespaces with nsenter.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

from vdsm_hosted_engine import host_setup
from vdsm_hosted_engine.errors import HostedEngineError

logger = logging.getLogger(__name__)

# ENVIRONMENT.md: what libvirt's qemu driver needs in a container (plus our lease via sanlock).
QEMU_CONF = {
    "user": '"root"',
    "group": '"root"',
    "dynamic_ownership": "0",
    "remember_owner": "0",
    "namespaces": "[]",
    "cgroup_controllers": "[]",
    "security_driver": '"none"',
    "swtpm_user": '"root"',
    "swtpm_group": '"root"',
}


class LabError(HostedEngineError):
    """The lab could not do what was asked (one sentence saying what and why)."""

    expected = True


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            text = f.read()
    except OSError:
        return None
    return int(text[text.rindex(")") + 2 :].split()[19])


def _ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *argv], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise LabError(f"ip {' '.join(argv)}: {result.stderr.strip()}")
    return result


@dataclass
class LabHost:
    name: str
    address: str
    prefix: int
    gateway: str
    lab_dir: str
    switch: str
    veth: str
    cache_dir: str
    init_pid: int | None = None
    init_started: int | None = None  # start time of init_pid, to never signal a recycled pid

    @property
    def dir(self) -> str:
        return os.path.join(self.lab_dir, "hosts", self.name)

    @property
    def conf_dir(self) -> str:
        return os.path.join(self.dir, "conf")

    @property
    def host_conf(self) -> str:
        return os.path.join(self.conf_dir, "hosted-engine.conf")

    @property
    def socket(self) -> str:
        """Our daemon's Unix socket, reachable from the root namespace through the bind mount."""
        return os.path.join(self.dir, "run", "vdsm-hosted-engine", "hosted-engine.sock")

    @property
    def libvirt_uri(self) -> str:
        """This host's libvirtd from the root namespace."""
        return f"qemu:///system?socket={self.dir}/run/libvirt/libvirt-sock"

    @property
    def _seed(self) -> str:
        return os.path.join(self.cache_dir, "libvirt-cache")

    def state(self) -> dict:
        return {"address": self.address, "init_pid": self.init_pid, "init_started": self.init_started}

    # -- lifecycle ------------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.init_pid is not None and process_start_time(self.init_pid) == self.init_started

    def _prepare(self) -> None:
        for part in ("run", "log", "lib", "cache", "backing"):
            path = os.path.join(self.dir, part)
            if part in ("run", "lib") and os.path.exists(path):
                shutil.rmtree(path)  # a restarted host boots clean; its conf/ and logs stay
            os.makedirs(path, exist_ok=True)
        for marker in ("ready", "failed", "storage-cut"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.dir, marker))
        # libvirt's empty state skeleton (it expects its folders to exist)
        for root, dirs, _files in os.walk("/var/lib/libvirt"):
            for d in dirs:
                os.makedirs(
                    os.path.join(self.dir, "lib", os.path.relpath(os.path.join(root, d), "/var/lib/libvirt")),
                    exist_ok=True,
                )
        seed = self._seed
        if os.path.isdir(seed):  # qemu capabilities probed by an earlier host: libvirtd answers at once
            shutil.copytree(seed, os.path.join(self.dir, "cache"), dirs_exist_ok=True)
        etc = os.path.join(self.dir, "etc", "libvirt")
        if not os.path.exists(etc):
            shutil.copytree("/etc/libvirt", etc, symlinks=True)
            qemu_conf = os.path.join(etc, "qemu.conf")
            with open(qemu_conf, encoding="utf-8") as f:
                text = f.read()
            with open(qemu_conf, "w", encoding="utf-8") as f:
                f.write(host_setup.set_keys(text, QEMU_CONF))
            host_uuid = uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.name}.{self.lab_dir}")
            with open(os.path.join(etc, "libvirtd.conf"), "w", encoding="utf-8") as f:
                # No DMI here: a fixed host UUID, else libvirtd invents one per start. Plain TCP
                # without auth for migration, acceptable only on the lab's private switch.
                f.write(
                    f'host_uuid = "{host_uuid}"\nlisten_tls = 0\nlisten_tcp = 1\n'
                    f'listen_addr = "{self.address}"\nauth_tcp = "none"\n'
                )
            # What `hosted-engine --configure-host` does on a real host: lease through sanlock.
            host_setup.apply(host_setup.plan(self.dir))

    def start(self, timeout: float = 90.0) -> dict:
        """Boot the host; returns hostinit's timeline (seconds to network, sanlock, libvirtd)."""
        if self.alive():
            raise LabError(f"{self.name} is running already (init pid {self.init_pid})")
        self._prepare()
        argv = [
            "unshare", "--mount", "--uts", "--ipc", "--net", "--pid", "--fork", "--mount-proc",
            sys.executable, "-m", "vdsm_hosted_engine.lab.hostinit",
            "--name", self.name, "--host-dir", self.dir, "--lab-dir", self.lab_dir,
            "--address", self.address, "--prefix", str(self.prefix), "--gateway", self.gateway,
            "--cache-dir", self.cache_dir,
        ]  # fmt: skip
        with open(os.path.join(self.dir, "init.log"), "ab") as log:
            unshare = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + 10
        children = ""
        while not children:
            with contextlib.suppress(OSError):
                with open(f"/proc/{unshare.pid}/task/{unshare.pid}/children", encoding="ascii") as f:
                    found = f.read().split()
                children = found[0] if found else ""
            if time.monotonic() > deadline or unshare.poll() is not None:
                raise LabError(f"{self.name}: unshare did not start its init (see {self.dir}/init.log)")
            if not children:
                time.sleep(0.02)
        self.init_pid = int(children)
        self.init_started = process_start_time(self.init_pid)
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", str(self.init_pid))
        _ip("link", "set", self.veth, "master", self.switch)
        _ip("link", "set", self.veth, "up")
        deadline = time.monotonic() + timeout
        while True:
            ready = os.path.join(self.dir, "ready")
            if os.path.exists(ready):
                self._keep_libvirt_cache(self._seed)
                with open(ready, encoding="utf-8") as f:
                    return json.load(f)
            failed = os.path.join(self.dir, "failed")
            if os.path.exists(failed) or not self.alive():
                reason = "init died"
                with contextlib.suppress(OSError), open(failed, encoding="utf-8") as f:
                    reason = f.read().strip()
                raise LabError(f"{self.name} failed to start: {reason} (see {self.dir}/init.log)")
            if time.monotonic() > deadline:
                raise LabError(f"{self.name} not ready within {timeout:.0f} s (see {self.dir}/init.log)")
            time.sleep(0.05)

    def _keep_libvirt_cache(self, seed: str) -> None:
        if os.path.isdir(seed):
            return
        tmp = f"{seed}.{self.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(os.path.join(self.dir, "cache"), tmp)
        try:
            os.rename(tmp, seed)
        except OSError:  # another host saved it first
            shutil.rmtree(tmp, ignore_errors=True)

    def crash(self) -> None:
        """Everything of the host dies at once (SIGKILL of its namespaces' PID 1)."""
        if not self.alive():
            return
        assert self.init_pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.init_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process_start_time(self.init_pid) == self.init_started and time.monotonic() < deadline:
            time.sleep(0.02)
        logger.info("crashed %s (init pid %d)", self.name, self.init_pid)
        self.init_pid = self.init_started = None

    # -- commands inside ------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        bin_dir = os.path.dirname(sys.executable)
        return {
            **{k: v for k, v in os.environ.items() if k != "SANLOCK_RUN_DIR"},
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
            "HOSTED_ENGINE_CONF": self.host_conf,
        }

    def nsenter(self, argv: list[str]) -> list[str]:
        if not self.alive():
            raise LabError(f"{self.name} is not running")
        return ["nsenter", "-t", str(self.init_pid), "-m", "-u", "-i", "-n", "-p", "--", *argv]

    def run(
        self, argv: list[str], timeout: float | None = 600, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.nsenter(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=self.env(),
            check=False,
        )
        if check and result.returncode != 0:
            raise LabError(
                f"{self.name}: {' '.join(argv)} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )
        return result

    def spawn(self, argv: list[str], log: str) -> None:
        """Start a daemon inside the host, detached: it becomes a child of the host's PID 1."""
        self.run(["setsid", "-f", "sh", "-c", 'exec "$@" >>"$0" 2>&1 </dev/null', log, *argv], timeout=30)

    def python(self, module: str, *args: str) -> list[str]:
        return [sys.executable, "-m", module, *args]

    # -- faults ---------------------------------------------------------------------------------

    def set_storage(self, reachable: bool) -> None:
        """Cut (every I/O of this host on the domain fails with EIO) or restore its storage."""
        marker = os.path.join(self.dir, "storage-cut")
        if reachable:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker)
        else:
            with open(marker, "w", encoding="utf-8"):
                pass

    def set_link(self, up: bool) -> None:
        """The host's management link on the lab switch (the host's own bridge stays up)."""
        _ip("link", "set", self.veth, "up" if up else "down")
