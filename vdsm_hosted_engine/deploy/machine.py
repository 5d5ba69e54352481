"""Facts about this machine that deploy uses for defaults and checks (read-only).

"What this host can give" is the smaller of the machine's and the cgroup's: a lab host (or a
container) is a cgroup with its own memory limit and CPU quota, and the Engine VM started from it is
held to them.
"""

from __future__ import annotations

import fcntl
import math
import os
import random

CGROUP_ROOT = "/sys/fs/cgroup"

# Filesystems by what they mean for a storage domain every host must see.
PSEUDO_FILESYSTEMS = frozenset(
    {
        "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs",
        "pstore", "bpf", "configfs", "fusectl", "mqueue", "hugetlbfs", "autofs", "binfmt_misc", "efivarfs",
        "nsfs", "rpc_pipefs",
    }
)  # fmt: skip
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
SHARED_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "glusterfs", "fuse.glusterfs", "ceph", "fuse.ceph", "cifs", "smb3", "ocfs2", "gfs2",
        "lustre", "beegfs", "gpfs",
    }
)  # fmt: skip


def default_gateway(route_file: str = "/proc/net/route") -> str | None:
    """The IPv4 default route's gateway, from the kernel's routing table."""
    try:
        with open(route_file, encoding="ascii") as f:
            next(f)
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000" and fields[2] != "00000000":
                    raw = int(fields[2], 16)
                    return ".".join(str((raw >> shift) & 0xFF) for shift in (0, 8, 16, 24))
    except (OSError, StopIteration, ValueError):
        return None
    return None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def cgroup_dirs(controller: str, proc_cgroup: str = "/proc/self/cgroup", root: str = CGROUP_ROOT) -> list[str]:
    """This process's cgroup directories for `controller` and their ancestors, innermost first (v1
    `<root>/<controller>/<path>` or v2 `<root>/<path>`)."""
    text = _read(proc_cgroup) or ""
    found = []
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            base = root if os.path.exists(os.path.join(root, "cgroup.controllers")) else os.path.join(root, "unified")
        elif controller in controllers.split(","):
            base = os.path.join(root, controllers)
        else:
            continue
        parts = [p for p in path.split("/") if p]
        found += [os.path.join(base, *parts[:n]) for n in range(len(parts), -1, -1)]
    return found


_MEMORY_FILES = (("memory.max", "memory.current"), ("memory.limit_in_bytes", "memory.usage_in_bytes"))  # v2, v1


def cgroup_memory_left_mib(dirs: list[str]) -> int | None:
    """The least memory any of these cgroups still allows (limit minus usage), in MiB; None: no limit."""
    left = None
    for d in dirs:
        for limit_file, usage_file in _MEMORY_FILES:
            limit, usage = _read(os.path.join(d, limit_file)), _read(os.path.join(d, usage_file))
            if limit is None or usage is None or not limit.isdigit() or not usage.isdigit():
                continue
            if int(limit) >= 2**60:  # v1's "unlimited"
                continue
            mib = max(int(limit) - int(usage), 0) // 1024**2
            left = mib if left is None else min(left, mib)
    return left


def cgroup_cpus(dirs: list[str]) -> int | None:
    """The fewest CPUs any of these cgroups' CFS quota allows (rounded up); None: no quota."""
    cpus = None
    for d in dirs:
        quota = period = None
        v2 = _read(os.path.join(d, "cpu.max"))
        if v2:
            fields = v2.split()
            if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
                quota, period = int(fields[0]), int(fields[1])
        else:
            q, p = _read(os.path.join(d, "cpu.cfs_quota_us")), _read(os.path.join(d, "cpu.cfs_period_us"))
            if q and p and q.lstrip("-").isdigit() and p.isdigit() and int(q) > 0:
                quota, period = int(q), int(p)
        if quota and period:
            n = max(math.ceil(quota / period), 1)
            cpus = n if cpus is None else min(cpus, n)
    return cpus


def cpu_count() -> int:
    """The CPUs this process may run on, within its cgroup's quota."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpus(cgroup_dirs("cpu"))
    return min(usable, quota) if quota else usable


def mem_available_mib(meminfo: str = "/proc/meminfo") -> int:
    """The memory this host can give a new VM now: MemAvailable, within the cgroup's limit (0: unknown)."""
    available = 0
    try:
        with open(meminfo, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) // 1024
                    break
    except (OSError, ValueError):
        pass
    left = cgroup_memory_left_mib(cgroup_dirs("memory"))
    if left is not None and available:
        return min(available, left)
    return available


def mount_of(path: str, mountinfo: str) -> tuple[str, str] | None:
    """(mount point, filesystem type) of the mount holding `path` (already resolved), from the text
    of /proc/self/mountinfo; the last-mounted of the longest matching mount points wins."""
    best: tuple[str, str] | None = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or not tail:
            continue
        point = fields[4].replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, tail[0])
    return best


def filesystem_type(path: str, mountinfo_file: str = "/proc/self/mountinfo") -> str | None:
    text = _read(mountinfo_file)
    found = mount_of(os.path.realpath(path), text or "")
    return found[1] if found else None


KVM_GET_API_VERSION = 0xAE00  # ioctl: 12 on every working KVM


def virtualization(cpuinfo: str = "/proc/cpuinfo", kvm_device: str = "/dev/kvm") -> tuple[str, str]:
    """(libvirt domain type, why): `kvm` when the CPU offers hardware virtualization (vmx/svm) and
    /dev/kvm answers, else `qemu` (TCG emulation, slower but working)."""
    flags = set()
    for line in (_read(cpuinfo) or "").splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    if not flags & {"vmx", "svm"}:
        return "qemu", "the CPU offers no hardware virtualization (no vmx/svm flag): TCG emulation, slower"
    try:
        fd = os.open(kvm_device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return "qemu", f"{kvm_device} cannot be opened ({e.strerror}): TCG emulation, slower"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as e:
        return "qemu", f"{kvm_device} does not answer ({e.strerror}): TCG emulation, slower"
    finally:
        os.close(fd)
    if version != 12:
        return "qemu", f"{kvm_device} speaks KVM API {version}, not 12: TCG emulation, slower"
    return "kvm", "hardware virtualization (vmx/svm and /dev/kvm)"


def nameservers(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """This host's DNS servers (the Engine VM's default), loopback ones left out."""
    found = []
    for line in (_read(resolv_conf) or "").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver" and not fields[1].startswith(("127.", "::1")):
            found.append(fields[1])
    return found


def random_mac(rng: random.Random | None = None) -> str:
    """A MAC in the 00:16:3e range (Xen/oVirt's OUI, as oVirt's deploy picks)."""
    rng = rng or random.SystemRandom()
    return "00:16:3e:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
