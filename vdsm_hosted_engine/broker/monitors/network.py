"""`network`: can this host reach the gateway? Success fraction of N probes (ping | dns | tcp | none).

The N probes of one measurement run at once, each bounded by the monitor's `timeout` (ping: one
`ping -c N -i 0.2` process), so a cut network is seen within about `timeout` seconds of the round
that meets it, not after N probes in a row at the full timeout each (33 s were seen in the lab).
"""

from __future__ import annotations

import re
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

from vdsm_hosted_engine.broker.base import Monitor

_RECEIVED = re.compile(rb"(\d+) (?:packets )?received")


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

    def _ping(self) -> float:
        """One ping process sending `probes` echo requests 0.2 s apart, each waited for `timeout`."""
        wait = max(int(self.timeout), 1)
        result = subprocess.run(
            ["ping", "-n", "-q", "-c", str(self.probes), "-i", "0.2", "-W", str(wait), str(self.target)],
            capture_output=True,
            timeout=self.timeout + 0.2 * self.probes + 2,
            check=False,
        )
        match = _RECEIVED.search(result.stdout)
        if match is not None:
            return min(int(match.group(1)), self.probes) / self.probes
        if result.returncode in (1, 2):  # no summary: no route, unknown host...: nothing received
            return 0.0
        raise ValueError(f"ping failed (rc {result.returncode}): {result.stderr.decode(errors='replace').strip()}")

    def _one(self) -> bool:
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
        if self.test == "ping":
            return self._ping()
        with ThreadPoolExecutor(self.probes, thread_name_prefix="network-probe") as pool:
            results = list(pool.map(lambda _: self._one(), range(self.probes)))
        return sum(results) / self.probes
