"""Host resources from /proc and /sys: `mgmt-bridge`, `mem-free`, `cpu-load-no-engine`.

By default the host is the whole machine (/proc/meminfo, /proc/stat). When the host's processes live
in a cgroup of their own (`host_cgroup` in hosted-engine.conf: a host inside a container or a slice,
and every lab host), CPU and memory are that cgroup's (v1 `cpuacct` and `memory` controllers).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from vdsm_hosted_engine.broker.base import Monitor


class BridgeMonitor(Monitor):
    """The management bridge's operstate ("unknown" counts as up: some links do not report carrier)."""

    name = "mgmt-bridge"

    def __init__(self, bridge: str, sysfs: str = "/sys", **kw) -> None:
        super().__init__(**kw)
        self.path = os.path.join(sysfs, "class", "net", bridge, "operstate")

    def probe(self) -> bool:
        try:
            with open(self.path, encoding="ascii") as f:
                return f.read().strip() in ("up", "unknown")
        except FileNotFoundError:
            return False


CGROUP_ROOT = "/sys/fs/cgroup"


def _read_int(path: str) -> int:
    with open(path, encoding="ascii") as f:
        return int(f.read().split()[0])


class MemoryMonitor(Monitor):
    """Available memory in MiB: MemAvailable, or within the host's cgroup its limit minus what it
    uses (page cache that can be dropped not counted), whichever is smaller."""

    name = "mem-free"

    def __init__(
        self, meminfo: str = "/proc/meminfo", cgroup: str | None = None, cgroup_root: str = CGROUP_ROOT, **kw
    ) -> None:
        super().__init__(**kw)
        self.meminfo = meminfo
        self.cgroup_dir = os.path.join(cgroup_root, "memory", cgroup) if cgroup else None

    def probe(self) -> int:
        with open(self.meminfo, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
            else:
                raise ValueError(f"no MemAvailable in {self.meminfo}")
        if self.cgroup_dir:
            limit = _read_int(os.path.join(self.cgroup_dir, "memory.limit_in_bytes"))
            usage = _read_int(os.path.join(self.cgroup_dir, "memory.usage_in_bytes"))
            inactive = 0
            with open(os.path.join(self.cgroup_dir, "memory.stat"), encoding="ascii") as f:
                for line in f:
                    if line.startswith("total_inactive_file "):
                        inactive = int(line.split()[1])
            available = min(available, max(limit - (usage - inactive), 0))
        return available // (1024 * 1024)


class CpuLoadMonitor(Monitor):
    """Busy fraction of the host over the last interval, minus the Engine VM's own CPU time: from
    /proc/stat, or the host cgroup's `cpuacct.usage` against wall time x the CPUs it may use."""

    name = "cpu-load-no-engine"

    def __init__(
        self,
        engine_cpu_seconds: Callable[[], float | None],
        stat: str = "/proc/stat",
        cgroup: str | None = None,
        cgroup_root: str = CGROUP_ROOT,
        **kw,
    ) -> None:
        super().__init__(**kw)
        self.engine_cpu_seconds = engine_cpu_seconds
        self.stat = stat
        self.usage = os.path.join(cgroup_root, "cpuacct", cgroup, "cpuacct.usage") if cgroup else None
        self.quota = os.path.join(cgroup_root, "cpu", cgroup) if cgroup else None
        self.hz = os.sysconf("SC_CLK_TCK")
        self._last: tuple[float, float, float | None] | None = None

    def _read(self) -> tuple[float, float]:
        """(busy seconds, capacity seconds), both cumulative."""
        if self.usage:
            return _read_int(self.usage) / 1e9, time.monotonic() * self._cpus()
        with open(self.stat, encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        total = sum(fields[:8])
        return (total - idle) / self.hz, total / self.hz

    def _cpus(self) -> float:
        """The CPUs the host's cgroup may use: the machine's, or fewer under a CFS quota."""
        cpus = float(os.cpu_count() or 1)
        assert self.quota is not None
        try:
            quota = _read_int(os.path.join(self.quota, "cpu.cfs_quota_us"))
            period = _read_int(os.path.join(self.quota, "cpu.cfs_period_us"))
        except (OSError, ValueError):
            return cpus
        return min(cpus, quota / period) if quota > 0 and period > 0 else cpus

    def probe(self) -> float | None:
        busy, capacity = self._read()
        engine = self.engine_cpu_seconds()
        last, self._last = self._last, (busy, capacity, engine)
        if last is None or capacity <= last[1]:
            raise ValueError("first sample")  # no load figure until two samples exist
        engine_used = 0.0
        if engine is not None and last[2] is not None:
            engine_used = max(engine - last[2], 0.0)
        return min(max((busy - last[0] - engine_used) / (capacity - last[1]), 0.0), 1.0)
