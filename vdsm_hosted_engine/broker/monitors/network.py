"""`network`: can this host reach the gateway? Success fraction of N probes (ping | dns | tcp | none)."""

from __future__ import annotations

import socket
import subprocess

from vdsm_hosted_engine.broker.base import Monitor


class NetworkMonitor(Monitor):
    name = "network"

    def __init__(self, test: str, target: str | None, port: int | None = None, probes: int = 5, **kw) -> None:
        super().__init__(**kw)
        if test not in ("ping", "dns", "tcp", "none"):
            raise ValueError(f"unknown network test {test!r}")
        if test != "none" and not target:
            raise ValueError(f"network test {test} needs a target")
        if test == "tcp" and not port:
            raise ValueError("network test tcp needs a port")
        self.test, self.target, self.port, self.probes = test, target, port, probes

    def _one(self) -> bool:
        if self.test == "ping":
            result = subprocess.run(
                ["ping", "-n", "-q", "-c", "1", "-W", str(max(int(self.timeout), 1)), str(self.target)],
                capture_output=True,
                timeout=self.timeout + 2,
                check=False,
            )
            return result.returncode == 0
        if self.test == "dns":
            try:
                socket.getaddrinfo(str(self.target), None)
            except OSError:
                return False
            return True
        try:
            with socket.create_connection((str(self.target), int(self.port or 0)), timeout=self.timeout):
                return True
        except OSError:
            return False

    def probe(self) -> float:
        if self.test == "none":
            return 1.0
        return sum(1 for _ in range(self.probes) if self._one()) / self.probes
