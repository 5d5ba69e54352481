"""The lab for end-to-end tests: three hosts with real sanlock, libvirtd + qemu and our daemon.

One lab per test session (booting and deploying takes ~15 s); before each test `steady` brings it back
to the baseline (every host up with its agent, networks restored, no maintenance, the Engine healthy,
the audit clean), so tests do not depend on each other's order. The lab is torn down at the end of
the session even when tests fail: only what it started (its hosts' namespace inits by pid, its switch
by name). Failover times are collected and printed at the end of the run, against sanlock's floor.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import pytest

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.lab import audit
from vdsm_hosted_engine.lab.lab import IO_TIMEOUT, Lab

HOSTS = 3
SANLOCK_FLOOR = constants.host_dead_seconds(IO_TIMEOUT)
_timings: list[tuple[str, float, str]] = []


def pytest_terminal_summary(terminalreporter):
    if not _timings:
        return
    terminalreporter.section("lab failover times")
    for what, seconds, note in _timings:
        terminalreporter.write_line(f"{what:55} {seconds:7.1f} s  {note}")


@pytest.fixture(scope="session")
def lab():
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (namespaces, bridges)")
    folder = tempfile.mkdtemp(prefix="he-e2e-", dir="/var/tmp")
    lab = Lab(folder, switch=f"het{os.getpid() % 100000}", network="192.168.231.0/24")
    try:
        lab.up(HOSTS)
        lab.deploy("host1")
        lab.start_agent("host1")
        for name in sorted(lab.hosts)[1:]:
            lab.join(name)
            lab.start_agent(name)
        yield lab
    finally:
        lab.down()
        failed = os.environ.get("HE_E2E_KEEP")
        if not failed:
            shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Steady:
    lab: Lab
    finding: audit.Finding
    started: float = field(default_factory=time.monotonic)

    def healthy(self) -> str | None:
        """The host serving a healthy Engine, if any."""
        host = self.lab.engine_host()
        if host and "DB Up" in (self.lab.engine_get("/ovirt-engine/services/health") or ""):
            return host
        return None

    def wait_healthy(self, timeout: float, where=lambda host: True) -> str:
        return self.lab.wait("a healthy Engine", lambda: (h := self.healthy()) and where(h) and h, timeout, 0.2)

    def audit(self, settle: float = 60.0) -> audit.Finding:
        self.finding = audit.audit(self.lab, settle=settle)
        return self.finding

    def record(self, what: str, seconds: float, note: str = "") -> None:
        _timings.append((what, seconds, note))

    def boot_ids(self) -> list[str]:
        records = self.lab.boot_records()
        assert [n for n, _ in records] == list(range(1, len(records) + 1)), f"boot records out of order: {records}"
        return [boot_id for _, boot_id in records]

    def maintenance(self, host: str, mode: str) -> None:
        self.lab.call(host, "setMaintenance", {"mode": mode})


@pytest.fixture
def steady(lab):
    """The lab at its baseline, and helpers for the test."""
    for name, host in lab.hosts.items():
        if not host.alive():
            lab.restart_host(name)
    lab.set_network("all", True)
    for name in lab.hosts:
        lab.call(name, "setMaintenance", {"mode": "none"})
    state = Steady(lab, audit.look(lab))
    host = state.wait_healthy(240)
    lab.wait(f"{host}'s agent in EngineUp", lambda: lab.call(host, "getScore")["state"] == "EngineUp", 60)
    state.audit(settle=120)
    return state
