"""A monitor: one probe of the host's health, run periodically by the broker in its own thread.

A probe returns a plain value (number, bool, dict) or raises; it must bound its own I/O with
`timeout`. The broker never waits for a probe: a stuck one simply stops refreshing its value, which
then ages past its TTL and counts as failed.
"""

from __future__ import annotations

import abc
from typing import Any


class Monitor(abc.ABC):
    name: str = ""

    def __init__(self, interval: float = 10.0, timeout: float = 5.0, ttl: float | None = None) -> None:
        self.interval = interval
        self.timeout = timeout
        self.ttl = ttl if ttl is not None else 3 * interval + timeout

    @abc.abstractmethod
    def probe(self) -> Any:
        """One measurement; raise on failure."""
