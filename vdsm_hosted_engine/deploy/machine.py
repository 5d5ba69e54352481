"""Facts about this machine that deploy uses for defaults and checks (read-only)."""

from __future__ import annotations

import os
import random


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


def cpu_count() -> int:
    return os.cpu_count() or 1


def mem_available_mib(meminfo: str = "/proc/meminfo") -> int:
    try:
        with open(meminfo, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return 0


def random_mac(rng: random.Random | None = None) -> str:
    """A MAC in the 00:16:3e range (Xen/oVirt's OUI, as oVirt's deploy picks)."""
    rng = rng or random.SystemRandom()
    return "00:16:3e:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
