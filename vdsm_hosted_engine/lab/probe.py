"""A reachability probe of the Engine from the lab switch: how long the guest stops answering.

A thread GETs the appliance's /bootid over HTTP from the root namespace (through the lab switch, as a
user would reach the Engine) every `interval` seconds with a short timeout, and records each answer.
`gap()` is the longest time between two successful answers: during a live migration, the pause of the
guest plus the time for the network to learn its new port. 50 requests a second: the lab's guest is
emulated (TCG), and a faster probe would itself load the host it measures.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time


class Probe:
    def __init__(self, address: str, interval: float = 0.02, timeout: float = 0.1) -> None:
        self.address = address
        self.interval = interval
        self.timeout = timeout
        self.answers: list[tuple[float, str]] = []  # (monotonic time, boot id)
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-probe", daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                connection = http.client.HTTPConnection(self.address, 80, timeout=self.timeout)
                connection.request("GET", "/bootid")
                response = connection.getresponse()
                body = response.read().decode().strip()
                connection.close()
                if response.status == 200:
                    self.answers.append((time.monotonic(), body))
                else:
                    self.failures += 1
            except OSError:
                self.failures += 1
            time.sleep(self.interval)

    def gap(self) -> float:
        """The longest time without an answer between the first and the last answer."""
        times = [t for t, _ in self.answers]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    def boot_ids(self) -> list[str]:
        """The distinct boot ids seen, in order (one: the guest was never restarted)."""
        seen: list[str] = []
        for _, boot_id in self.answers:
            if not seen or seen[-1] != boot_id:
                seen.append(boot_id)
        return seen
