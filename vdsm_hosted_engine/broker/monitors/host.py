"""Host resources from /proc and /sys: `mgmt-bridge`, `mem-free`, `cpu-load-no-engine`."""

from __future__ import annotations

import os
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


class MemoryMonitor(Monitor):
    """MemAvailable in MiB."""

    name = "mem-free"

    def __init__(self, meminfo: str = "/proc/meminfo", **kw) -> None:
        super().__init__(**kw)
        self.meminfo = meminfo

    def probe(self) -> int:
        with open(self.meminfo, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
        raise ValueError(f"no MemAvailable in {self.meminfo}")


class CpuLoadMonitor(Monitor):
    """Busy fraction of the host over the last interval, minus the Engine VM's own CPU time."""

    name = "cpu-load-no-engine"

    def __init__(self, engine_cpu_seconds: Callable[[], float | None], stat: str = "/proc/stat", **kw) -> None:
        super().__init__(**kw)
        self.engine_cpu_seconds = engine_cpu_seconds
        self.stat = stat
        self.hz = os.sysconf("SC_CLK_TCK")
        self._last: tuple[int, int, float | None] | None = None

    def _read(self) -> tuple[int, int]:
        with open(self.stat, encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    def probe(self) -> float | None:
        total, idle = self._read()
        engine = self.engine_cpu_seconds()
        last, self._last = self._last, (total, idle, engine)
        if last is None or total <= last[0]:
            raise ValueError("first sample")  # no load figure until two samples exist
        elapsed = total - last[0]
        busy = elapsed - (idle - last[1])
        engine_ticks = 0.0
        if engine is not None and last[2] is not None:
            engine_ticks = max(engine - last[2], 0.0) * self.hz
        return min(max((busy - engine_ticks) / elapsed, 0.0), 1.0)
