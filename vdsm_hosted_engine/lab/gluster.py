"""The lab's GlusterFS (`hosted-engine-lab up --storage=gluster`): the recipe of
../shared/gluster-prototype, on the lab's hosts.

Each of the first three hosts runs glusterd (its own /var/lib/glusterd and glusterd.vol, bind-mounted
by hostinit) and one brick, a directory in its host folder (ext4 needs `force`; it refuses unaligned
O_DIRECT as real storage does). host1 probes the others and creates the replica-3 volume `he` with
the virt group, owner 36:36 and `network.ping-timeout` PING_TIMEOUT; the lab's sanlock io_timeout is
the smallest the product's rule (storage/gluster.py) accepts for it. glusterd's own peer ping is
GLUSTERD_PING (the packaged 0 never notices a lost peer: FINDINGS.md). Further hosts are clients only.
Every host mounts the volume through the product's own connection code (deploy, join, the daemon).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from typing import TYPE_CHECKING

from vdsm_hosted_engine.lab.host import LabError, process_start_time, record
from vdsm_hosted_engine.storage import gluster
from vdsm_hosted_engine.storage.connection import StorageConnection

if TYPE_CHECKING:
    from vdsm_hosted_engine.lab.host import LabHost
    from vdsm_hosted_engine.lab.lab import Lab

VOLUME = "he"
BRICK_HOSTS = 3
PING_TIMEOUT = 10
GLUSTERD_PING = 10
IO_TIMEOUT = gluster.min_io_timeout(PING_TIMEOUT)  # 5 s: ping 10 + 10 s stall <= half of 8 x 5
GLUSTERD_STATE = "/var/lib/glusterd"
GLUSTERD_VOL = "/etc/glusterfs/glusterd.vol"


def brick_path(host_dir: str) -> str:
    return os.path.join(host_dir, "brick", VOLUME)


def connection(brick_hosts: list[str]) -> StorageConnection:
    """host1:/he, the other brick hosts as backup volfile servers."""
    first, *others = brick_hosts
    options = f"backup-volfile-servers={':'.join(others)}" if others else ""
    return StorageConnection.parse("glusterfs", f"{first}:/{VOLUME}", options)


# -- inside a host (hostinit, as root of the host's mount namespace) -----------------------------------


def prepare(host_dir: str) -> None:
    """From the root namespace, before the host boots: its glusterd state folder (kept across a
    restart, as a real host's disk), its glusterd.vol and its brick directory."""
    state = os.path.join(host_dir, "glusterd")
    if not os.path.isdir(state):
        os.makedirs(state)
        for part in ("groups", "hooks"):
            shutil.copytree(os.path.join(GLUSTERD_STATE, part), os.path.join(state, part), symlinks=True)
    with open(GLUSTERD_VOL, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"option ping-timeout \d+", f"option ping-timeout {GLUSTERD_PING}", text)
    with open(os.path.join(host_dir, "glusterd.vol"), "w", encoding="utf-8") as f:
        f.write(text)
    os.makedirs(brick_path(host_dir), exist_ok=True)


def start_glusterd(host_dir: str, run: Callable[..., None], timeout: float = 30.0) -> None:
    """Inside the host: its own glusterd state and config, then glusterd (recorded as "glusterd")."""
    run("mount", "--bind", os.path.join(host_dir, "glusterd"), GLUSTERD_STATE)
    run("mount", "--bind", os.path.join(host_dir, "glusterd.vol"), GLUSTERD_VOL)
    for folder in ("/run/gluster", "/var/log/glusterfs"):
        os.makedirs(folder, exist_ok=True)
    with open("/var/log/glusterd.out", "ab") as log:
        glusterd = subprocess.Popen(
            ["glusterd", "-N", "--log-level", "INFO"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    record("/run/lab/glusterd.pid", glusterd.pid, process_start_time(glusterd.pid) or 0)
    deadline = time.monotonic() + timeout
    while not _answers(["gluster", "--mode=script", "pool", "list"]):
        if glusterd.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("glusterd did not answer (see /var/log/glusterfs/glusterd.log)")
        time.sleep(0.2)


def _answers(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


# -- from the root namespace -------------------------------------------------------------------------


def _gluster(host: LabHost, *args: str, timeout: float = 120) -> str:
    return host.run(["gluster", "--mode=script", *args], timeout=timeout).stdout


def create_volume(lab: Lab) -> StorageConnection:
    """Peers, the replica-3 volume, its options, started with every brick online; its connection."""
    hosts = [lab.host(n) for n in lab.brick_hosts()]
    if len(hosts) < BRICK_HOSTS:
        raise LabError(f"a gluster lab needs at least {BRICK_HOSTS} hosts (replica 3, one brick each)")
    first = hosts[0]
    for other in hosts[1:]:
        _gluster(first, "peer", "probe", other.name)
    lab.wait(
        "every gluster peer connected",
        lambda: _gluster(first, "pool", "list").count("Connected") == len(hosts),
        60,
    )
    bricks = [f"{h.name}:{brick_path(h.dir)}" for h in hosts]
    _gluster(first, "volume", "create", VOLUME, "replica", "3", *bricks, "force")
    for option, value in (
        ("group", "virt"),
        ("storage.owner-uid", gluster.OWNER_UID),
        ("storage.owner-gid", gluster.OWNER_GID),
        ("network.ping-timeout", str(PING_TIMEOUT)),
        ("cluster.granular-entry-heal", "enable"),
    ):
        _gluster(first, "volume", "set", VOLUME, option, value)
    _gluster(first, "volume", "start", VOLUME)
    lab.wait(f"{len(hosts)} bricks online", lambda: len(brick_pids(lab)) == len(hosts), 60)
    return connection([h.name for h in hosts])


def brick_pids(lab: Lab) -> dict[str, int]:
    """host -> pid (in that host) of its online brick, from `gluster volume status` on a live brick host."""
    for name in lab.brick_hosts():
        host = lab.host(name)
        if not host.alive():
            continue
        result = host.run(["gluster", "--mode=script", "--xml", "volume", "status", VOLUME], timeout=60, check=False)
        if result.returncode != 0:
            continue
        found = {}
        for node in ElementTree.fromstring(result.stdout).iter("node"):
            hostname, status, pid = node.findtext("hostname"), node.findtext("status"), node.findtext("pid")
            if node.findtext("path", "").startswith("/") and status == "1" and pid and pid.isdigit():
                found[hostname or ""] = int(pid)
        return found
    return {}


def kill_brick(lab: Lab, name: str) -> int:
    """SIGKILL `name`'s brick process (its glusterfsd, by the pid gluster reports); returns that pid."""
    pid = brick_pids(lab).get(name)
    if pid is None:
        raise LabError(f"{name} has no online brick of volume {VOLUME}")
    lab.host(name).run(["kill", "-KILL", str(pid)], timeout=30)
    return pid


def start_bricks(lab: Lab) -> None:
    """Bring every brick that is down back (`gluster volume start he force`), wait until all are online."""
    first = next(lab.host(n) for n in lab.brick_hosts() if lab.host(n).alive())
    _gluster(first, "volume", "start", VOLUME, "force")
    lab.wait("every brick online", lambda: len(brick_pids(lab)) == len(lab.brick_hosts()), 60)


def heal_pending(lab: Lab) -> int:
    """Entries waiting for self-heal, summed over the bricks (0: healed)."""
    first = next(lab.host(n) for n in lab.brick_hosts() if lab.host(n).alive())
    text = _gluster(first, "volume", "heal", VOLUME, "info", "summary")
    return sum(int(n) for n in re.findall(r"Total Number of entries:\s*(\d+)", text))


# Every gluster TCP port (glusterd 24007-24008, bricks from 49152), in and out, loopback included: the
# host's client loses every brick (its own too), its brick every client, its glusterd every peer.
_GLUSTER_PORTS = ["-p", "tcp", "-m", "multiport", "--ports", "24007:24008,49152:60999"]
_CUT_MARK = ["-m", "comment", "--comment", "hosted-engine-lab storage cut"]


def cut_storage(host: LabHost, cut: bool) -> None:
    """Drop (or stop dropping) every gluster packet of `host` (iptables in its network namespace): its
    client and its brick lose the volume, as when a real host's storage network fails."""
    if not host.alive():
        return
    for chain in ("INPUT", "OUTPUT"):
        rule = [chain, *_GLUSTER_PORTS, *_CUT_MARK, "-j", "DROP"]
        present = host.run(["iptables", "-C", *rule], timeout=30, check=False).returncode == 0
        if cut and not present:
            host.run(["iptables", "-I", *rule], timeout=30)
        elif not cut and present:
            host.run(["iptables", "-D", *rule], timeout=30)


# -- what it costs ---------------------------------------------------------------------------------


def _kind(argv: list[str]) -> str | None:
    name = os.path.basename(argv[0]) if argv else ""
    if name == "glusterd":
        return "glusterd"
    if name == "glusterfsd":
        return "brick"
    if name == "glusterfs":
        joined = " ".join(argv)
        return "self-heal" if "shd" in joined else "client"
    return None


def rss(lab: Lab) -> dict[str, dict[str, int]]:
    """host -> {glusterd, brick, self-heal, client: RSS in KiB} of the gluster processes in each host."""
    from vdsm_hosted_engine.lab.host import _pid_namespace

    namespaces = {_pid_namespace(h.init_pid): h.name for h in lab.alive() if h.init_pid is not None}
    found: dict[str, dict[str, int]] = {name: {} for name in namespaces.values()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        host = namespaces.get(_pid_namespace(int(entry)))
        if host is None:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            kind = _kind(argv)
            if kind is None:
                continue
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as f:
                kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue
        found[host][kind] = found[host].get(kind, 0) + kib
    return found
