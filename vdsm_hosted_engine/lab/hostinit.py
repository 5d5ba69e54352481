"""PID 1 of one lab host, inside its own mount, UTS, IPC, network and pid namespaces.

Started by `lab.host.LabHost.start` through `unshare`. It gives the host its own views of the
directories daemons keep state in (bind mounts of the host's folders over /run, /var/log,
/var/lib/libvirt, /var/cache/libvirt, /etc/libvirt; the lab's /etc/hosts and an empty resolv.conf so
libvirtd never waits on DNS), builds the `ovirtmgmt` bridge on the veth the lab moves in as `eth0`,
mounts its view of the shared storage (lab/storage_view.py: a FUSE pass-through the lab can cut; on a
gluster lab, starts glusterd instead on a brick host: lab/gluster.py),
then starts sanlock, virtlogd and libvirtd, writes `ready` into the host folder and reaps orphans
forever. Everything inside dies with it: killing this process is how the lab crashes a host.

The paths inside the host are the production ones (/run/sanlock, /run/libvirt,
/run/vdsm-hosted-engine), so the product runs here exactly as on a real host.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import time

from vdsm_hosted_engine.lab.host import process_start_time, record
from vdsm_hosted_engine.lab.sanlock_daemon import SanlockDaemon

logger = logging.getLogger(__name__)

BIND_MOUNTS = (
    ("run", "/run"),
    ("log", "/var/log"),
    ("lib", "/var/lib/libvirt"),
    ("cache", "/var/cache/libvirt"),
    ("etc/libvirt", "/etc/libvirt"),
)


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")


def _mounts(host_dir: str, lab_dir: str) -> None:
    _run("mount", "--make-rprivate", "/")
    cgroups = os.path.join(host_dir, "cgroup")
    _run("mount", "--rbind", "/sys/fs/cgroup", cgroups)  # kept across the new sysfs below
    _run("mount", "-t", "sysfs", "sysfs", "/sys")  # a sysfs that shows this network namespace
    _run("mount", "--rbind", cgroups, "/sys/fs/cgroup")
    for source, target in BIND_MOUNTS:
        _run("mount", "--bind", os.path.join(host_dir, source), target)
    for name in ("hosts", "resolv.conf"):
        _run("mount", "--bind", os.path.join(lab_dir, "etc", name), f"/etc/{name}")
    for folder in ("/run/libvirt", "/run/sanlock", "/run/lock", "/var/log/libvirt/qemu"):
        os.makedirs(folder, exist_ok=True)


def _network(address: str, prefix: int, gateway: str, bridge: str, timeout: float = 10.0) -> None:
    _run("ip", "link", "set", "lo", "up")
    deadline = time.monotonic() + timeout
    while not os.path.exists("/sys/class/net/eth0"):
        if time.monotonic() > deadline:
            raise RuntimeError("the lab did not move eth0 into this host")
        time.sleep(0.05)
    _run("ip", "link", "add", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
    _run("ip", "link", "set", "eth0", "master", bridge)
    _run("ip", "link", "set", "eth0", "up")
    _run("ip", "link", "set", bridge, "up")
    _run("ip", "addr", "add", f"{address}/{prefix}", "dev", bridge)
    _run("ip", "route", "add", "default", "via", gateway)


def _storage_view(host_dir: str, shared: str, timeout: float = 10.0) -> None:
    """The shared domain at its own path, seen through this host's breakable FUSE view."""
    backing = os.path.join(host_dir, "backing")
    _run("mount", "--bind", shared, backing)
    with open("/var/log/storage-view.log", "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "vdsm_hosted_engine.lab.storage_view", backing, shared,
             os.path.join(host_dir, "storage-cut")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while not os.path.ismount(shared):
        if time.monotonic() > deadline:
            raise RuntimeError("the storage view did not mount (see /var/log/storage-view.log)")
        time.sleep(0.05)


def _libvirt_answers() -> bool:
    """libvirtd answers once its qemu driver probed qemu (seconds the first time; then cached)."""
    try:
        result = subprocess.run(
            ["virsh", "-q", "-c", "qemu:///system", "version"], capture_output=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def _start(args: argparse.Namespace) -> int:
    """The host's boot, in a child of PID 1 (which meanwhile reaps: libvirtd's qemu probes are
    daemonized and must be reaped as soon as they exit, or libvirtd waits on their zombies)."""
    started = time.monotonic()
    timeline: dict[str, float] = {}
    try:
        socket.sethostname(args.name)
        _mounts(args.host_dir, args.lab_dir)
        _network(args.address, args.prefix, args.gateway, args.bridge)
        timeline["network"] = time.monotonic() - started
        os.makedirs("/run/lab", exist_ok=True)
        if args.storage == "gluster":  # the domain is a GlusterFS volume the product mounts itself
            if args.glusterd:
                from vdsm_hosted_engine.lab import gluster

                gluster.start_glusterd(args.host_dir, _run)
        else:
            _storage_view(args.host_dir, os.path.join(args.lab_dir, "shared"))
        timeline["storage"] = time.monotonic() - started
        sanlock = SanlockDaemon("/run/sanlock", args.name, "/var/log/sanlock.stderr", args.cache_dir)
        sanlock.start()
        timeline["sanlock"] = time.monotonic() - started
        with open("/var/log/virtlogd.out", "ab") as log:
            subprocess.Popen(["virtlogd"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        with open("/var/log/libvirtd.out", "ab") as log:
            libvirtd = subprocess.Popen(
                ["libvirtd", "--listen"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        # the lab stops and restarts exactly this libvirtd (LabHost.recorded("libvirtd"))
        os.makedirs("/run/lab", exist_ok=True)
        record("/run/lab/libvirtd.pid", libvirtd.pid, process_start_time(libvirtd.pid) or 0)
        deadline = time.monotonic() + 120
        while not _libvirt_answers():
            if time.monotonic() > deadline:
                raise RuntimeError("libvirtd did not answer within 120 s (see /var/log/libvirtd.out)")
            time.sleep(0.1)
        timeline["libvirtd"] = time.monotonic() - started
    except Exception as e:  # report and die: the lab sees the error file and no `ready`
        logger.error("host %s failed to start: %s", args.name, e)
        failed = os.path.join(args.host_dir, "failed")
        with open(f"{failed}.tmp", "w", encoding="utf-8") as f:
            f.write(f"{e}\n")
        os.replace(f"{failed}.tmp", failed)
        return 1
    ready = os.path.join(args.host_dir, "ready")
    with open(f"{ready}.tmp", "w", encoding="utf-8") as f:
        json.dump(timeline, f)
    os.replace(f"{ready}.tmp", ready)  # the lab reads it as soon as it exists: never half-written
    logger.info("host %s ready: %s", args.name, timeline)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hostinit")
    parser.add_argument("--name", required=True)
    parser.add_argument("--host-dir", required=True)
    parser.add_argument("--lab-dir", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--prefix", type=int, required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--bridge", default="ovirtmgmt")
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--storage", choices=("dir", "gluster"), default="dir")
    parser.add_argument("--glusterd", action="store_true", help="with --storage=gluster: run glusterd (a brick host)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s hostinit: %(message)s", stream=sys.stdout)
    sys.stdout.flush()
    boot = os.fork()
    if boot == 0:
        code = 1
        try:
            code = _start(args)
        finally:
            sys.stdout.flush()
            os._exit(code)
    while True:  # PID 1: reap every orphan of this namespace; die if the boot failed
        try:
            pid, status = os.wait()
        except ChildProcessError:
            time.sleep(1)
            continue
        if pid == boot and os.waitstatus_to_exitcode(status) != 0:
            return 1


if __name__ == "__main__":
    sys.exit(main())
