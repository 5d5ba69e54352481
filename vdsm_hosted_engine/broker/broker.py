"""Runs the monitors and keeps their latest results with their age (one plain-data view).

`values()` is what the agent reads each tick (ha.env.MonitorValues: None where a value is missing or
older than its TTL); `status()` is what the `HostedEngine.getMonitorStatus` verb will expose.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from vdsm_hosted_engine.broker.base import Monitor
from vdsm_hosted_engine.observations import Health, MonitorValues

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reading:
    value: Any
    at: float  # monotonic time of the probe
    error: str = ""
    duration: float = 0.0


class Broker:
    def __init__(self, monitors: list[Monitor], clock=time.monotonic) -> None:
        self.monitors = {m.name: m for m in monitors}
        self._clock = clock
        self._readings: dict[str, Reading] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for monitor in self.monitors.values():
            thread = threading.Thread(target=self._run, args=(monitor,), name=f"monitor-{monitor.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        logger.info("broker started %d monitors: %s", len(self.monitors), ", ".join(self.monitors))

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def probe_once(self, name: str) -> Reading:
        """Run one monitor now, in the caller's thread, and record its result."""
        monitor = self.monitors[name]
        started = self._clock()
        try:
            reading = Reading(monitor.probe(), self._clock(), duration=self._clock() - started)
        except Exception as e:  # a probe may fail any way; that is its result, never a crash
            reading = Reading(None, self._clock(), error=f"{type(e).__name__}: {e}", duration=self._clock() - started)
        with self._lock:
            previous = self._readings.get(name)
            self._readings[name] = reading
        if reading.error and (previous is None or previous.error != reading.error):
            logger.warning("monitor %s failed: %s", name, reading.error)
        elif not reading.error and previous is not None and previous.error:
            logger.info("monitor %s works again", name)
        logger.debug("monitor %s: %r (%.3f s)", name, reading.value, reading.duration)
        return reading

    def _run(self, monitor: Monitor) -> None:
        while not self._stop.is_set():
            self.probe_once(monitor.name)
            self._stop.wait(monitor.interval)

    def fresh(self, name: str) -> Any:
        """The value if present, successful and younger than the monitor's TTL, else None."""
        with self._lock:
            reading = self._readings.get(name)
        if reading is None or reading.error or self._clock() - reading.at > self.monitors[name].ttl:
            return None
        return reading.value

    def values(self) -> MonitorValues:
        health = self.fresh("engine-health") or {}
        storage = self.fresh("storage")
        return MonitorValues(
            network=self.fresh("network"),
            bridge_up=self.fresh("mgmt-bridge"),
            mem_free_mib=self.fresh("mem-free"),
            cpu_load=self.fresh("cpu-load-no-engine"),
            engine_health=Health(health.get("health", "unknown")),
            engine_detail=health.get("detail", ""),
            storage_ok=None if storage is None else bool(storage.get("ok")),
            ready=self.ready(),
        )

    def ready(self) -> bool:
        """Every monitor has reported since the broker started (a value or an error)."""
        with self._lock:
            return all(name in self._readings for name in self.monitors)

    def status(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        with self._lock:
            readings = dict(self._readings)
        result = {}
        for name, monitor in self.monitors.items():
            reading = readings.get(name)
            if reading is None:
                result[name] = {"value": None, "age": None, "fresh": False, "error": "no result yet"}
                continue
            age = now - reading.at
            result[name] = {
                "value": reading.value,
                "age": round(age, 3),
                "fresh": not reading.error and age <= monitor.ttl,
                "error": reading.error,
                "interval": monitor.interval,
                "ttl": monitor.ttl,
            }
        return result
