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


CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_CONTROLLERS = ("cpu", "cpuacct", "memory")
HOST_MEMORY = 2 * 1024**3  # each lab host's memory (its cgroup's limit)
HOST_CPUS = 1  # each lab host's CPUs (its cgroup's CFS quota): its load does not depend on the others
# Each lab host's CPU weight (cgroup v1 cpu.shares, the kernel's maximum; a process at nice 0 weighs
# 1024). The CPU monitor measures the host's load as the CPU time its cgroup got over HOST_CPUS x wall
# time: with the default weight, anything else busy on the machine (a test runner, another lab) took
# its share of the cycles a degraded host wanted, its load never reached the penalty that moves the
# Engine, and the CPU drill depended on an idle machine. A real host's CPUs are its own: at this
# weight the host gets its whole quota whenever it wants it, however busy the machine.
HOST_CPU_SHARES = 262144
# libvirt's qemu hook, in every lab host: while /run/lab-slow-migration exists, an incoming migration
# waits at its start (a slow destination that a test can crash mid-migration).
QEMU_HOOK = """#!/bin/sh
if [ "$2" = migrate ] && [ -e /run/lab-slow-migration ]; then
  for i in $(seq 1 300); do [ -e /run/lab-slow-migration ] || break; sleep 0.1; done
fi
exit 0
"""


def record(path: str, pid_in_host: int, started: int) -> None:
    """Write a daemon record (see `LabHost.spawn_recorded`): its pid in the host and its start time."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{pid_in_host} {started}\n")
    os.replace(tmp, path)


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


def ns_pid(pid: int) -> int | None:
    """The pid of root-namespace process `pid` inside its own (innermost) pid namespace."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        return None
    return None


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _processes_in(netns: str) -> list[tuple[int, str, str, str]]:
    """(pid, command, state, kernel wait channel) of the processes in a network namespace."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not netns:
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/net") != netns:
                continue
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
            with open(f"/proc/{entry}/wchan", encoding="ascii", errors="replace") as f:
                wchan = f.read()
        except OSError:
            continue
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        found.append((int(entry), command, stat[stat.rindex(")") + 2], wchan))
    return found


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
    cgroups: bool = False  # the host has its own cpuacct/memory cgroups (host_cgroup for its monitors)
    storage: str = "dir"  # dir (the FUSE view of shared/) or gluster (lab/gluster.py)
    glusterd: bool = False  # with gluster: this host runs glusterd and a brick

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
    def cgroup(self) -> str:
        """The host's cgroup name (v1, under each of CGROUP_CONTROLLERS)."""
        return f"{self.switch}-{self.name}"

    def cgroup_dirs(self) -> list[str]:
        return [os.path.join(CGROUP_ROOT, c, self.cgroup) for c in CGROUP_CONTROLLERS]

    def make_cgroups(self) -> bool:
        """The host's own cgroups (its CPU and memory are what its monitors see); False when this
        machine does not let us (then the host is the whole machine, as without the lab)."""
        try:
            for path in self.cgroup_dirs():
                os.makedirs(path, exist_ok=True)
            with open(os.path.join(CGROUP_ROOT, "memory", self.cgroup, "memory.limit_in_bytes"), "w") as f:
                f.write(str(HOST_MEMORY))
            cpu = os.path.join(CGROUP_ROOT, "cpu", self.cgroup)
            with open(os.path.join(cpu, "cpu.cfs_period_us"), encoding="ascii") as f:
                period = int(f.read())
            with open(os.path.join(cpu, "cpu.cfs_quota_us"), "w", encoding="ascii") as f:
                f.write(str(HOST_CPUS * period))
            with open(os.path.join(cpu, "cpu.shares"), "w", encoding="ascii") as f:
                f.write(str(HOST_CPU_SHARES))
        except OSError as e:
            logger.warning("%s: no cgroups of its own (%s): degrade-host cannot work", self.name, e)
            self.remove_cgroups()
            return False
        return True

    def remove_cgroups(self) -> None:
        for path in self.cgroup_dirs():
            deadline = time.monotonic() + 5
            while os.path.isdir(path):
                try:
                    os.rmdir(path)
                except OSError:  # processes of a killed host take a moment to leave it
                    if time.monotonic() > deadline:
                        logger.warning("could not remove cgroup %s", path)
                        break
                    time.sleep(0.05)

    def _in_cgroups(self, argv: list[str]) -> list[str]:
        """`argv` run inside the host's cgroups (children inherit them)."""
        if not self.cgroups:
            return argv
        procs = [os.path.join(d, "cgroup.procs") for d in self.cgroup_dirs()]
        script = "for f in " + " ".join(procs) + '; do echo $$ > "$f"; done; exec "$@"'
        return ["sh", "-c", script, "sh", *argv]

    @property
    def _seed(self) -> str:
        return os.path.join(self.cache_dir, "libvirt-cache")

    def state(self) -> dict:
        return {
            "address": self.address,
            "init_pid": self.init_pid,
            "init_started": self.init_started,
            "cgroups": self.cgroups,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.init_pid is not None and process_start_time(self.init_pid) == self.init_started

    def _prepare(self) -> None:
        for part in ("run", "log", "lib", "cache", "backing", "cgroup"):
            path = os.path.join(self.dir, part)
            if part in ("run", "lib") and os.path.exists(path):
                shutil.rmtree(path)  # a restarted host boots clean; its conf/ and logs stay
            os.makedirs(path, exist_ok=True)
        for marker in ("ready", "failed", "storage-cut", "lease-swap"):
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
            os.makedirs(os.path.join(etc, "hooks"), exist_ok=True)
            with open(os.path.join(etc, "hooks", "qemu"), "w", encoding="utf-8") as f:
                f.write(QEMU_HOOK)
            os.chmod(os.path.join(etc, "hooks", "qemu"), 0o755)

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
            "--cache-dir", self.cache_dir, "--storage", self.storage,
        ]  # fmt: skip
        if self.glusterd:
            from vdsm_hosted_engine.lab import gluster

            gluster.prepare(self.dir)
            argv.append("--glusterd")
        self.cgroups = self.make_cgroups()
        argv = self._in_cgroups(argv)
        with open(os.path.join(self.dir, "init.log"), "ab") as log:
            unshare = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            return self._boot(unshare, timeout)
        except BaseException:
            self.crash()  # a half-started host leaves nothing behind
            if self.cgroups:
                self.remove_cgroups()
                self.cgroups = False
            unshare.kill()
            unshare.wait()
            raise

    def _boot(self, unshare: subprocess.Popen, timeout: float) -> dict:
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
        self.reap(self.kill())

    def kill(self) -> str | None:
        """SIGKILL the host's PID 1 and return at once (its network namespace, for `reap`); None if
        the host was not running. A power cut of several hosts kills them all before reaping any."""
        if not self.alive():
            return None
        assert self.init_pid is not None
        try:
            netns = os.readlink(f"/proc/{self.init_pid}/ns/net")
        except OSError:
            netns = ""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.init_pid, signal.SIGKILL)
        return netns

    def reap(self, netns: str | None) -> None:
        """After `kill`: wait for PID 1 and the network namespace to go, remove the host's cgroups."""
        if netns is None:
            return
        assert self.init_pid is not None
        deadline = time.monotonic() + 10
        while process_start_time(self.init_pid) == self.init_started and time.monotonic() < deadline:
            time.sleep(0.02)
        logger.info("crashed %s (init pid %d)", self.name, self.init_pid)
        self.init_pid = self.init_started = None
        self._wait_gone(netns)
        if self.cgroups:
            self.remove_cgroups()
            self.cgroups = False

    def _wait_gone(self, netns: str, timeout: float = 10.0) -> None:
        """Wait for the kernel to tear the dead host's network namespace down (its veth goes with it).
        Processes that outlive their killed namespace (stuck in the kernel) are written to
        `lingering.log` for a post-mortem; the veth, ours by its exact name, is then deleted."""
        deadline = time.monotonic() + timeout
        while _ip("link", "show", self.veth, check=False).returncode == 0:
            if time.monotonic() > deadline:
                lingering = _processes_in(netns)
                with open(os.path.join(self.dir, "lingering.log"), "a", encoding="utf-8") as f:
                    f.write(f"{time.ctime()}: {len(lingering)} process(es) outlived the crash: {lingering}\n")
                logger.warning("%s: %d process(es) outlived the crash %s; deleting %s", self.name,
                               len(lingering), lingering, self.veth)  # fmt: skip
                _ip("link", "del", self.veth, check=False)
                return
            time.sleep(0.05)

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
        enter = ["nsenter", "-t", str(self.init_pid), "-m", "-u", "-i", "-n", "-p", "--"]
        return enter + self._in_cgroups(argv)

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

    def spawn(self, argv: list[str], log: str, pid_file: str | None = None) -> None:
        """Start a daemon inside the host, detached: it becomes a child of the host's PID 1. Its pid
        (in the host's pid namespace) is appended to `pid_file` when given."""
        record = f'echo $$ >> "{pid_file}"; ' if pid_file else ""
        script = record + 'exec "$@" >>"$0" 2>&1 </dev/null'
        self.run(["setsid", "-f", "sh", "-c", script, log, *argv], timeout=30)

    # -- daemons the lab started inside, by pid ----------------------------------------------------

    def _record_path(self, key: str) -> str:
        """`/run/lab/<key>.pid` inside the host: "<pid in the host> <start time>" of a daemon we started."""
        return os.path.join(self.dir, "run", "lab", f"{key}.pid")

    def find(self, pid_in_host: int) -> int | None:
        """The root-namespace pid of the process that is `pid_in_host` in this host's pid namespace."""
        if not self.alive():
            return None
        assert self.init_pid is not None
        namespace = _pid_namespace(self.init_pid)
        for entry in os.listdir("/proc"):
            if entry.isdigit() and ns_pid(int(entry)) == pid_in_host and _pid_namespace(int(entry)) == namespace:
                return int(entry)
        return None

    def spawn_recorded(self, key: str, argv: list[str], log: str, timeout: float = 10.0) -> int:
        """`spawn` a daemon and record it under `key` (its pid and start time), so that `recorded`
        finds exactly that process later and never another one; returns its root-namespace pid."""
        path = self._record_path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.spawn(argv, log, pid_file=f"/run/lab/{key}.pid")
        deadline = time.monotonic() + timeout
        while True:  # `setsid -f` returns before its child wrote its pid
            with contextlib.suppress(FileNotFoundError, ValueError), open(path, encoding="ascii") as f:
                pid = self.find(int(f.read().split()[0]))
                started = process_start_time(pid) if pid else None
                if pid and started:
                    record(path, ns_pid(pid) or 0, started)
                    return pid
            if time.monotonic() > deadline:
                raise LabError(f"{self.name}: {argv[0]} did not start (see {log} in the host)")
            time.sleep(0.02)

    def recorded(self, key: str) -> int | None:
        """The root-namespace pid of the daemon recorded under `key` if that very process still runs."""
        try:
            with open(self._record_path(key), encoding="ascii") as f:
                pid_in_host, started = (int(x) for x in f.read().split())
        except (OSError, ValueError):
            return None
        pid = self.find(pid_in_host)
        return pid if pid is not None and process_start_time(pid) == started else None

    def signal_recorded(self, key: str, signum: int) -> int:
        """Send `signum` to the recorded daemon `key`; returns its root-namespace pid."""
        pid = self.recorded(key)
        if pid is None:
            raise LabError(f"{self.name}: no {key} started by the lab runs there")
        os.kill(pid, signum)
        return pid

    def stop_recorded(self, key: str, timeout: float = 60.0) -> None:
        """SIGTERM the recorded daemon `key` (as `systemctl stop` does) and wait until it has exited."""
        pid = self.signal_recorded(key, signal.SIGTERM)
        started = process_start_time(pid)
        deadline = time.monotonic() + timeout
        while process_start_time(pid) == started:
            if time.monotonic() > deadline:
                raise LabError(f"{self.name}: {key} (pid {pid}) still runs {timeout:.0f} s after SIGTERM")
            time.sleep(0.05)

    def python(self, module: str, *args: str) -> list[str]:
        return [sys.executable, "-m", module, *args]

    # -- faults ---------------------------------------------------------------------------------

    def set_lease_swap(self, swapped: bool) -> None:
        """The host's storage view serves `other.leases` at the Engine VM lease's path (or not)."""
        marker = os.path.join(self.dir, "lease-swap")
        if swapped:
            with open(marker, "w", encoding="utf-8"):
                pass
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker)

    def set_storage(self, reachable: bool) -> None:
        """Cut (every I/O of this host on the domain fails with EIO; on gluster, every gluster packet of
        the host is dropped) or restore its storage."""
        if self.storage == "gluster":
            from vdsm_hosted_engine.lab import gluster

            gluster.cut_storage(self, not reachable)
            return
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
