"""The lab: several hypervisor hosts on one machine, with real sanlock, libvirtd + qemu and our daemon.

Layout of the lab folder (default /var/tmp/hosted-engine-lab; O_DIRECT needs a real filesystem):

    lab.json          what the lab created: switch, hosts (init pid + start time), engine address
    shared/           the storage domain every host sees (the NFS export of a real setup); on a gluster
                      lab (`up --storage=gluster`, lab/gluster.py) unused: the domain is volume `he`
    mnt/              where each host mounts a storage connection (in its own mount namespace)
    etc/              the lab's /etc/hosts and an empty resolv.conf (bind-mounted into every host)
    hooks/            our VDSM hooks, run by each host's daemon around the Engine VM
    agent.conf        the agents' settings: oVirt's score, timeouts shortened for the lab
    answers.conf      the deploy answer file (appliance, addresses)
    hosts/<name>/     one host: run/, log/, lib/, etc/libvirt/, conf/ (its hosted-engine.conf); on a
                      gluster brick host also glusterd/ (its /var/lib/glusterd), glusterd.vol, brick/

Everything the lab creates is recorded in lab.json before it is created, and `down` removes exactly
that: it SIGKILLs each host's namespace init (verified by pid and start time) and deletes the switch
bridge it made. Faults act on one named host (or all of them) or on the lab switch port of that host:
a crash or a power cut (namespace inits SIGKILLed, all before any is waited for), the storage view
cut (for good or for N seconds), libvirtd or the agent stopped, the agent hung (SIGSTOP). Daemons
the lab starts inside a host are recorded there (`/run/lab/<name>.pid`: pid and start time, see
LabHost.spawn_recorded) and only those very processes are ever signalled.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.lab import appliance as appliance_
from vdsm_hosted_engine.lab.host import LabError, LabHost, _ip
from vdsm_hosted_engine.lab.sanlock_daemon import default_cache_dir

logger = logging.getLogger(__name__)

DEFAULT_DIR = "/var/tmp/hosted-engine-lab"
DEFAULT_SWITCH = "helabsw"
DEFAULT_NETWORK = "192.168.222.0/24"
ENGINE_VM_NAME = "HostedEngine"
ENGINE_MAC = "00:16:3e:6c:61:62"
IO_TIMEOUT = 1
# Every `Lab.wait` bound is multiplied by this (HE_LAB_TIMEOUT_SCALE, default 1): a slower or busier
# machine gets more time for the same physics; nothing waits longer when things go right.
TIMEOUT_SCALE = float(os.environ.get("HE_LAB_TIMEOUT_SCALE", "1") or 1)
# The agents' timeouts in the lab: short enough for tests, same logic as production.
AGENT_CONF = """\
# hosted-engine lab: oVirt's score; state machine timeouts shortened so faults resolve in seconds.
[score]
[timeouts]
engine-bad-health-timeout=20
engine-stop-timeout=30
engine-starting-timeout=60
restart-window=120
handover-hold=5
vm-start-timeout=120
backoff=60
"""
HOOKS = {
    "before_vm_start": "from vdsm_hosted_engine.hooks import lease_hook\n"
    'raise SystemExit(lease_hook.main("before_vm_start"))\n',
    "before_vm_migrate_destination": "from vdsm_hosted_engine.hooks import lease_hook\n"
    'raise SystemExit(lease_hook.main("before_vm_migrate_destination"))\n',
    "after_vm_destroy": "from vdsm_hosted_engine.hooks import after_vm_destroy\n"
    "raise SystemExit(after_vm_destroy.main())\n",
}


class Lab:
    def __init__(
        self,
        lab_dir: str = DEFAULT_DIR,
        switch: str = DEFAULT_SWITCH,
        network: str = DEFAULT_NETWORK,
        cache_dir: str | None = None,
    ) -> None:
        if not 1 <= len(switch) <= 8 or not switch.isalnum():
            raise LabError(f"switch name {switch!r}: 1 to 8 letters or digits (host links are named <switch>-<host>)")
        self.dir = os.path.abspath(lab_dir)
        self.cache_dir = cache_dir or default_cache_dir()
        self.switch = switch
        self.network = ipaddress.ip_network(network)
        self._addressing()
        self.hosts: dict[str, LabHost] = {}
        self.switch_created = False
        self.host_ids: dict[str, int] = {}
        self.storage_kind = "dir"  # or "gluster" (lab/gluster.py), chosen by `up`
        self._saving = threading.Lock()
        self._load()

    # -- state ----------------------------------------------------------------------------------

    def _addressing(self) -> None:
        """The gateway, the Engine's and the hosts' addresses in `self.network`."""
        addresses = list(self.network.hosts())
        self.gateway = str(addresses[0])
        self.engine_address = str(addresses[99])
        self._addresses = addresses

    @property
    def state_path(self) -> str:
        return os.path.join(self.dir, "lab.json")

    @property
    def storage(self) -> str:
        return os.path.join(self.dir, "shared")

    @property
    def mnt_root(self) -> str:
        """Where the hosts mount a storage connection (each in its own mount namespace)."""
        return os.path.join(self.dir, "mnt")

    @property
    def io_timeout(self) -> int:
        """sanlock's io_timeout in this lab: on gluster, the smallest the product's rule allows."""
        from vdsm_hosted_engine.lab import gluster

        return gluster.IO_TIMEOUT if self.storage_kind == "gluster" else IO_TIMEOUT

    def brick_hosts(self) -> list[str]:
        """The hosts running glusterd and a brick (gluster lab): the first three."""
        from vdsm_hosted_engine.lab import gluster

        if self.storage_kind != "gluster":
            return []
        return sorted(self.hosts, key=lambda n: int(n.removeprefix("host")))[: gluster.BRICK_HOSTS]

    def _host(self, name: str, address: str) -> LabHost:
        number = int(name.removeprefix("host"))
        return LabHost(
            name,
            address,
            self.network.prefixlen,
            self.gateway,
            self.dir,
            self.switch,
            f"{self.switch}-{name}",
            self.cache_dir,
            storage=self.storage_kind,
            glusterd=self.storage_kind == "gluster" and number <= 3,
        )

    def _load(self) -> None:
        if not os.path.exists(self.state_path):
            return
        with open(self.state_path, encoding="utf-8") as f:
            state = json.load(f)
        self.switch = state["switch"]
        self.network = ipaddress.ip_network(state["network"])
        self._addressing()  # a lab reloaded from its folder keeps its own subnet's gateway and Engine address
        self.switch_created = state["switch_created"]
        self.host_ids = state.get("host_ids", {})
        self.storage_kind = state.get("storage", "dir")
        for name, host_state in state["hosts"].items():
            host = self._host(name, host_state["address"])
            host.init_pid, host.init_started = host_state["init_pid"], host_state["init_started"]
            host.cgroups = host_state.get("cgroups", False)
            self.hosts[name] = host

    def save(self) -> None:
        os.makedirs(self.dir, exist_ok=True)
        with self._saving:  # hosts boot in parallel threads, each saving its pid when up
            state = {
                "switch": self.switch,
                "network": str(self.network),
                "switch_created": self.switch_created,
                "engine_address": self.engine_address,
                "host_ids": self.host_ids,
                "storage": self.storage_kind,
                "hosts": {name: host.state() for name, host in self.hosts.items()},
            }
            tmp = f"{self.state_path}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(state, f, indent=1)
            os.replace(tmp, self.state_path)

    def host(self, name: str) -> LabHost:
        if name not in self.hosts:
            raise LabError(f"no lab host {name!r} (hosts: {', '.join(self.hosts) or 'none'})")
        return self.hosts[name]

    def alive(self) -> list[LabHost]:
        return [h for h in self.hosts.values() if h.alive()]

    # -- up / down ------------------------------------------------------------------------------

    def _files(self) -> None:
        for sub in ("shared", "etc", "hosts"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        names = "".join(f"{h.address} {h.name}\n" for h in self.hosts.values())
        with open(os.path.join(self.dir, "etc", "hosts"), "w", encoding="utf-8") as f:
            f.write(f"127.0.0.1 localhost\n{self.gateway} labgw\n{names}{self.engine_address} engine\n")
        with open(os.path.join(self.dir, "etc", "resolv.conf"), "w", encoding="utf-8") as f:
            f.write("# lab hosts have no DNS: an empty resolver fails at once instead of waiting\n")
        with open(os.path.join(self.dir, "agent.conf"), "w", encoding="utf-8") as f:
            f.write(AGENT_CONF)
        for point, body in HOOKS.items():
            folder = os.path.join(self.dir, "hooks", point)
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, "50_hosted_engine")
            with open(path, "w", encoding="utf-8") as f:
                f.write(f"#!{sys.executable}\n{body}")
            os.chmod(path, 0o755)

    def up(self, count: int, storage: str = "dir") -> dict[str, dict]:
        """Create the switch and boot `count` hosts (in parallel); returns each host's timeline. With
        `storage` gluster, the first three hosts also run glusterd and a brick of the replica-3 volume."""
        if storage not in ("dir", "gluster"):
            raise LabError(f"storage {storage!r}: dir or gluster")
        if storage == "gluster" and count < 3:
            raise LabError("a gluster lab needs at least 3 hosts (replica 3, one brick each)")
        self.storage_kind = storage
        if self.alive():
            raise LabError(f"a lab is running in {self.dir}: hosted-engine-lab down first")
        if not 1 <= count <= 9:
            raise LabError("a lab has 1 to 9 hosts")
        if os.path.exists(os.path.join(self.storage, "ha_agent")):
            raise LabError(f"{self.dir} holds an earlier lab's storage: hosted-engine-lab down --purge first")
        self.hosts = {f"host{n}": self._host(f"host{n}", str(self._addresses[9 + n])) for n in range(1, count + 1)}
        self._files()
        if _ip("link", "show", self.switch, check=False).returncode == 0:
            raise LabError(f"a link named {self.switch} exists and is not this lab's: choose another --switch")
        self.switch_created = True
        self.save()
        self._prebuild()
        _ip("link", "add", self.switch, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        _ip("addr", "add", f"{self.gateway}/{self.network.prefixlen}", "dev", self.switch)
        _ip("link", "set", self.switch, "up")
        try:
            timelines = self._parallel(list(self.hosts.values()), self._start_host)
            if storage == "gluster":
                from vdsm_hosted_engine.lab import gluster

                started = time.monotonic()
                gluster.create_volume(self)
                for name in self.brick_hosts():
                    timelines[name]["gluster volume"] = time.monotonic() - started
            return timelines
        except BaseException:
            for host in self.hosts.values():
                host.crash()
            self.save()
            raise

    def _prebuild(self) -> None:
        """What every host's boot would otherwise build at the same moment: the setrlimit shim."""
        from vdsm_hosted_engine.lab.sanlock_daemon import can_raise_memlock, setrlimit_shim

        if not can_raise_memlock():
            setrlimit_shim(self.cache_dir)

    def _start_host(self, host: LabHost) -> dict:
        timeline = host.start()
        self.save()
        return timeline

    def _parallel(self, hosts: list[LabHost], work: Callable[[LabHost], Any]) -> dict[str, Any]:
        results: dict[str, Any] = {}
        errors: list[str] = []

        def one(host: LabHost) -> None:
            try:
                results[host.name] = work(host)
            except Exception as e:
                errors.append(f"{host.name}: {e}")

        threads = [threading.Thread(target=one, args=(h,)) for h in hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.save()
        if errors:
            raise LabError("; ".join(errors))
        return results

    def down(self, purge: bool = False) -> list[str]:
        """Kill every host the lab started and delete the switch it created; `purge` also removes
        the lab folder (storage, logs). Returns what was done."""
        done = []
        for host in self.hosts.values():
            if host.alive():
                host.crash()
                done.append(f"stopped {host.name}")
        if self.switch_created and _ip("link", "show", self.switch, check=False).returncode == 0:
            _ip("link", "del", self.switch)
            done.append(f"deleted bridge {self.switch}")
        self.switch_created = False
        if purge:
            shutil.rmtree(self.dir, ignore_errors=True)
            done.append(f"removed {self.dir}")
        elif os.path.isdir(self.dir):
            self.save()
        return done

    # -- deploy, join, agents -------------------------------------------------------------------

    def storage_connection(self) -> Any:
        """The lab's storage connection (storage/connection.py StorageConnection)."""
        from vdsm_hosted_engine.lab import gluster
        from vdsm_hosted_engine.storage.connection import StorageConnection

        if self.storage_kind == "gluster":
            return gluster.connection(self.brick_hosts())
        return StorageConnection.parse("dir", self.storage)

    def answers(self, image: appliance_.Appliance) -> str:
        conn = self.storage_connection()
        if conn.mounted:
            storage: dict[str, tuple[str, Any]] = {
                "STORAGE/domainType": ("str", conn.domain_type),
                "STORAGE/storageDomainConnection": ("str", conn.spec),
                "STORAGE/mntOptions": ("str", ",".join(conn.mnt_options)),
            }
        else:
            storage = {"STORAGE/path": ("str", self.storage)}
        values = {
            **storage,
            "STORAGE/ioTimeout": ("int", self.io_timeout),
            "NETWORK/gateway": ("str", self.gateway),
            "NETWORK/networkTest": ("str", "ping"),
            "NETWORK/bridgeName": ("str", "ovirtmgmt"),
            "VM/applianceImage": ("str", image.disk),
            "VM/vcpus": ("int", 1),
            "VM/memMiB": ("int", 128),
            "VM/diskSizeGiB": ("int", 1),
            "VM/mac": ("str", ENGINE_MAC),
            "VM/fqdn": ("str", self.engine_address),
            "VM/cloudInit": ("bool", False),  # the lab appliance boots by its kernel command line
            "VM/healthUrl": ("str", self.health_url),
            "VM/kernel": ("str", image.kernel),
            "VM/initrd": ("str", image.initrd),
            "VM/cmdline": ("str", image.cmdline(self.engine_address, self.network.prefixlen, self.gateway)),
            "HA/priority": ("int", 0),
            "HA/spareHosts": ("int", 1),
            "NOTIF/smtpServer": ("none", "None"),
        }
        lines = ["[environment:default]"] + [f"OVEHOSTED_{k}={t}:{v}" for k, (t, v) in values.items()]
        path = os.path.join(self.dir, "answers.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return path

    @property
    def health_url(self) -> str:
        return f"http://{self.engine_address}/ovirt-engine/services/health"

    def _paths(self, host: LabHost) -> list[str]:
        return [
            f"--conf-dir={host.conf_dir}",
            "--run-dir=/run/vdsm-hosted-engine",
            f"--hooks-dir={os.path.join(self.dir, 'hooks')}",
            "--libvirt-uri=qemu:///system",
            "--domain-type=qemu",
            f"--mnt-root={self.mnt_root}",
        ]

    def deploy(self, name: str = "host1") -> str:
        """`hosted-engine --deploy` on `name` with the lab's answer file; returns its output."""
        host = self.host(name)
        image = appliance_.build(self.cache_dir)
        answers = self.answers(image)
        # The lab's shared directory is a local one that every lab host sees (one machine).
        result = host.run(
            host.python("vdsm_hosted_engine.cli.hosted_engine", "--deploy", f"--config-append={answers}",
                        "--health-timeout=120", "--allow-local-storage", *self._paths(host)),
            input="yes\n",
        )  # fmt: skip
        self.host_ids[name] = 1
        self.save()
        return result.stdout

    def join(self, name: str) -> int:
        """`hosted-engine --deploy --join` on `name`; returns the host id it got."""
        host = self.host(name)
        conn = self.storage_connection()
        storage = [f"--storage={conn.spec}", f"--storage-type={conn.domain_type}"]
        if conn.mnt_options:
            storage.append(f"--mnt-options={','.join(conn.mnt_options)}")
        result = host.run(
            host.python("vdsm_hosted_engine.cli.hosted_engine", "--deploy", "--join", *storage,
                        f"--hostname={name}", *self._paths(host))
        )  # fmt: skip
        words = result.stdout.split("host id ", 1)
        self.host_ids[name] = int(words[1].split(".")[0]) if len(words) == 2 else 0
        self.save()
        return self.host_ids[name]

    @property
    def hooks_dir(self) -> str:
        return os.path.join(self.dir, "hooks")

    @property
    def no_hooks_dir(self) -> str:
        """An empty hooks directory: a host where vdsm-hook-hosted-engine is not installed."""
        path = os.path.join(self.dir, "no-hooks")
        os.makedirs(path, exist_ok=True)
        return path

    def _lab_settings(self, host: LabHost, hooks: bool = True) -> None:
        """What deploy/join wrote, plus the lab's own: migration over the lab's plain TCP libvirtd
        listeners, the host's cgroup as what its CPU and memory monitors measure, and our hooks (or an
        empty hooks directory when `hooks` is False)."""
        from dataclasses import replace

        from vdsm_hosted_engine import config as config_

        conf = config_.load_host_config(host.host_conf)
        wanted = replace(
            conf,
            migration_uri="qemu+tcp://{host}/system",
            migration_unsafe=True,  # libvirt does not know our FUSE view is shared; our identity check does
            host_cgroup=host.cgroup if host.cgroups else None,
            hooks_dir=self.hooks_dir if hooks else self.no_hooks_dir,
        )
        if wanted != conf:
            with open(host.host_conf, "w", encoding="utf-8") as f:
                f.write(config_.render_host_config(wanted))

    def hooks_installed(self, name: str) -> bool:
        """Whether `name`'s configuration points its daemon at the lab's hooks."""
        from vdsm_hosted_engine import config as config_

        return config_.load_host_config(self.host(name).host_conf).hooks_dir == self.hooks_dir

    def start_agent(self, name: str, hooks: bool = True, wait: bool = True) -> None:
        """Start `name`'s daemon (recorded as "agent": the lab stops, hangs and resumes exactly that
        process); `wait`: until its agent holds its host id. `hooks` False: with an empty hooks dir."""
        host = self.host(name)
        self._lab_settings(host, hooks)
        host.spawn_recorded(
            "agent",
            host.python("vdsm_hosted_engine.daemon", f"--config={host.host_conf}",
                        f"--agent-config={os.path.join(self.dir, 'agent.conf')}"),
            "/var/log/vdsm-hosted-engine.log",
        )  # fmt: skip
        if wait:
            self.wait(f"{name}'s agent past StartState (its host id joined)", lambda: self._agent_joined(name), 90, 0.2)

    def agent_running(self, name: str) -> bool:
        return self.host(name).recorded("agent") is not None

    def stop_agent(self, name: str) -> None:
        """SIGTERM `name`'s daemon (`systemctl stop vdsm-hosted-engine`) and wait until it has exited."""
        self.host(name).stop_recorded("agent", timeout=self.scaled(150))

    def hang_agent(self, name: str, hung: bool) -> None:
        """SIGSTOP `name`'s daemon (a hung agent: its sanlock daemon keeps renewing the host id), or
        SIGCONT it."""
        self.host(name).signal_recorded("agent", signal.SIGSTOP if hung else signal.SIGCONT)

    def agent_hung(self, name: str) -> bool:
        pid = self.host(name).recorded("agent")
        if pid is None:
            return False
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            text = f.read()
        return text[text.rindex(")") + 2] == "T"

    def libvirtd_running(self, name: str) -> bool:
        return self.host(name).recorded("libvirtd") is not None

    def stop_libvirtd(self, name: str) -> None:
        """SIGTERM the libvirtd the lab started in `name` and wait until it has exited (its VMs run on)."""
        self.host(name).stop_recorded("libvirtd", timeout=self.scaled(60))

    def start_libvirtd(self, name: str) -> None:
        """Start libvirtd in `name` again and wait until it answers (it finds its running VMs)."""
        host = self.host(name)
        host.spawn_recorded("libvirtd", ["libvirtd", "--listen"], "/var/log/libvirtd.out")
        self.wait(
            f"{name}'s libvirtd answering",
            lambda: (
                host.run(["virsh", "-q", "-c", "qemu:///system", "version"], timeout=30, check=False).returncode == 0
            ),
            60,
            0.1,
        )

    def _agent_joined(self, name: str) -> bool:
        """The daemon answers and its agent left StartState: it holds its host id and sees the others."""
        return os.path.exists(self.host(name).socket) and self.call(name, "getScore")["state"] != "StartState"

    def restart_host(self, name: str) -> dict:
        """Boot a crashed host again with its configuration, and start its agent."""
        host = self.host(name)
        timeline = host.start()
        self.save()
        if os.path.exists(host.host_conf):
            self.start_agent(name)
        return timeline

    def power_cut(self, names: list[str] | None = None) -> list[str]:
        """Every named host (default: all) loses power at the same instant: their namespace inits are
        all SIGKILLed before the lab waits for any of them to be gone. Returns the hosts cut."""
        hosts = [self.host(n) for n in names] if names else list(self.hosts.values())
        killed = [(host, host.kill()) for host in hosts]
        for host, netns in killed:
            host.reap(netns)
        self.save()
        return [host.name for host, netns in killed if netns is not None]

    def power_back(self, names: list[str] | None = None, one_by_one: bool = False) -> None:
        """Boot the named hosts (default: every host that is down) and start their agents: all at
        once (in parallel), or `one_by_one` in the order given, each host's agent holding its host id
        before the next boots."""
        down = [h for h in (names or sorted(self.hosts)) if not self.host(h).alive()]
        if one_by_one:
            for name in down:
                self.restart_host(name)
        else:
            self._parallel([self.host(n) for n in down], lambda host: self.restart_host(host.name))

    # -- looking -------------------------------------------------------------------------------

    def call(self, name: str, verb: str, params: dict | None = None, timeout: float = 10.0) -> Any:
        """A HostedEngine verb on `name`'s daemon, over its Unix socket (from the root namespace)."""
        from vdsm_hosted_engine.rpc.client import Client

        client = Client.unix(self.host(name).socket, window=timeout)
        try:
            return client.call(f"HostedEngine.{verb}", params or {})
        finally:
            client.close()

    def cli(self, name: str, *args: str) -> str:
        """`hosted-engine ARGS` inside host `name`; its stdout."""
        host = self.host(name)
        return host.run(host.python("vdsm_hosted_engine.cli.hosted_engine", *args), timeout=60).stdout

    def engine_host(self) -> str | None:
        """The host whose qemu runs the Engine VM (see audit.qemu_processes)."""
        from vdsm_hosted_engine.lab.audit import qemu_processes

        found = qemu_processes(self)
        return found[0][0] if len(found) == 1 else None

    def engine_get(self, path: str, via: str | None = None, timeout: float = 2.0) -> str | None:
        """GET `path` from the Engine VM, through host `via` (default: the host running it)."""
        via = via or self.engine_host()
        if via is None:
            return None
        result = self.host(via).run(
            ["curl", "-sf", "-m", str(timeout), f"http://{self.engine_address}{path}"],
            timeout=timeout + 5,
            check=False,
        )  # fmt: skip
        return result.stdout if result.returncode == 0 else None

    def boot_records(self) -> list[tuple[int, str]]:
        """The Engine disk's boot records: over HTTP from the running guest, else from the disk."""
        text = self.engine_get("/cgi-bin/bootlog")
        if text is not None:
            return [(int(n), b) for n, _, b in (line.partition(" ") for line in text.splitlines()) if n.isdigit()]
        disks = [
            os.path.join(root, f) for root, _d, files in os.walk(os.path.join(self.storage, "images")) for f in files
        ]
        return appliance_.boot_records(disks[0]) if disks else []

    # -- faults ---------------------------------------------------------------------------------

    def crash_host(self, name: str) -> None:
        self.host(name).crash()
        self.save()

    def set_network(self, name: str, up: bool) -> list[str]:
        """Cut or restore the management network of `name`, or of every host for `all`."""
        hosts = list(self.hosts.values()) if name == "all" else [self.host(name)]
        for host in hosts:
            if host.alive():
                host.set_link(up)
        return [h.name for h in hosts]

    def set_storage(self, name: str, reachable: bool) -> list[str]:
        """Cut or restore the storage of `name` (every I/O of it on the domain fails), or of every host
        for `all`."""
        hosts = list(self.hosts.values()) if name == "all" else [self.host(name)]
        for host in hosts:
            host.set_storage(reachable)
        return [h.name for h in hosts]

    def kill_brick(self, name: str) -> int:
        """SIGKILL `name`'s gluster brick (its glusterfsd); returns its pid in the host."""
        from vdsm_hosted_engine.lab import gluster

        if name not in self.brick_hosts():
            bricks = ", ".join(self.brick_hosts()) or "none, not a gluster lab"
            raise LabError(f"{name} has no brick (bricks: {bricks})")
        return gluster.kill_brick(self, name)

    def start_bricks(self) -> None:
        """Start every brick that is down (`gluster volume start he force`)."""
        from vdsm_hosted_engine.lab import gluster

        gluster.start_bricks(self)

    def storage_blip(self, name: str, seconds: float, during: Callable[[], Any] | None = None) -> list[str]:
        """Cut the storage of `name` (or `all`) for `seconds`, then restore it, also when `during`
        (called about once a second meanwhile, e.g. a safety check) raises."""
        cut = time.monotonic()
        hosts = self.set_storage(name, False)
        try:
            while (left := cut + seconds - time.monotonic()) > 0:
                if during is not None:
                    during()
                time.sleep(min(1.0, max(left, 0.0)))
        finally:
            self.set_storage(name, True)
        return hosts

    def degrade(self, name: str, kind: str) -> None:
        """Load host `name`: `cpu` (low-priority busy loops) or `memory` (a process holding
        all but 64 MiB of what is free in the host's memory); its monitors see it through its cgroup."""
        host = self.host(name)
        if not host.cgroups:
            raise LabError(f"{name} has no cgroups of its own on this machine: degrade-host cannot work")
        if kind == "cpu":
            from vdsm_hosted_engine.lab.host import HOST_CPUS

            # Busy loops at the lowest priority: they take every cycle of the host's CPU quota that its
            # own processes (the Engine VM among them) leave.
            hog = ["nice", "-n", "19", "sh", "-c", "while :; do :; done"]
            for _ in range(HOST_CPUS + 1):
                host.spawn(hog, "/var/log/lab-degrade.log", pid_file="/run/lab-degrade.pids")
        elif kind == "memory":
            from vdsm_hosted_engine.lab.host import CGROUP_ROOT, HOST_MEMORY

            with open(os.path.join(CGROUP_ROOT, "memory", host.cgroup, "memory.usage_in_bytes")) as f:
                used = int(f.read())
            size = HOST_MEMORY - used - 64 * 1024**2
            hog = [sys.executable, "-c", f"import time\nb = b'x' * {size}\ntime.sleep(1e9)"]
            host.spawn(hog, "/var/log/lab-degrade.log", pid_file="/run/lab-degrade.pids")
        else:
            raise LabError(f"degrade-host: {kind!r} is not cpu or memory")

    def heal(self, name: str) -> None:
        """Stop what `degrade` started on `name` (by the pids it recorded inside the host)."""
        host = self.host(name)
        if host.alive():
            host.run(["sh", "-c", "[ -e /run/lab-degrade.pids ] && kill $(cat /run/lab-degrade.pids); "
                      "rm -f /run/lab-degrade.pids; true"])  # fmt: skip

    def set_lease_swap(self, name: str, swapped: bool) -> None:
        """Make host `name` read a different lease file at the Engine VM lease's path (a fresh sanlock
        resource of the same name, version 0), or the real one again."""
        host = self.host(name)
        other = os.path.join(host.dir, "other.leases")
        if swapped:
            real = os.path.join(self.storage, constants.HA_AGENT_DIR, constants.LEASES_FILE)
            shutil.copyfile(real, other)
            host.run(host.python("vdsm_hosted_engine.lab.lab", "write-resource", other))
        host.set_lease_swap(swapped)

    def slow_migrations(self, name: str, slow: bool) -> None:
        """While set, an incoming migration on `name` waits at its start (libvirt's qemu hook)."""
        marker = os.path.join(self.host(name).dir, "run", "lab-slow-migration")
        if slow:
            with open(marker, "w", encoding="utf-8"):
                pass
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker)

    def kill_vm(self) -> str:
        """SIGKILL the Engine VM's qemu (a VM crash) and wait until that process has exited (a process
        being killed still shows in /proc while the kernel tears its memory down); returns the host
        it ran on."""
        from vdsm_hosted_engine.lab.audit import qemu_processes

        found = qemu_processes(self)
        if not found:
            raise LabError("the Engine VM runs nowhere")
        name, pid = found[0]
        os.kill(pid, signal.SIGKILL)  # a root-namespace pid, just matched to the host's pid namespace
        self.wait(f"qemu {pid} on {name} gone", lambda: (name, pid) not in qemu_processes(self), 30, 0.02)
        return name

    def set_engine_health(self, healthy: bool) -> str:
        text = self.engine_get(f"/cgi-bin/engine?{'healthy' if healthy else 'unhealthy'}")
        if text is None:
            raise LabError("the Engine VM does not answer")
        return text.strip()

    @staticmethod
    def scaled(seconds: float) -> float:
        """A bound in seconds for this machine (TIMEOUT_SCALE)."""
        return seconds * TIMEOUT_SCALE

    def wait(self, what: str, predicate: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
        """Poll `predicate` until truthy, for up to `timeout` seconds x TIMEOUT_SCALE. It may fail
        meanwhile (a daemon restarting, a host booting): the last failure is named if the time runs out."""
        timeout = self.scaled(timeout)
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            try:
                value = predicate()
                if value:
                    return value
                last = f"last value {value!r}"
            except Exception as e:
                last = f"last error {type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                raise LabError(f"{what}: not within {timeout:.0f} s ({last})")
            time.sleep(interval)


if __name__ == "__main__":  # helpers run inside a host: `python -m vdsm_hosted_engine.lab.lab write-resource PATH`
    if sys.argv[1:2] == ["write-resource"]:
        import sanlock

        sanlock.write_resource(constants.LOCKSPACE_NAME, constants.ENGINE_VM_RESOURCE, [(sys.argv[2], 0)])
