"""The lab for end-to-end tests: three hosts with real sanlock, libvirtd + qemu and our daemon.

One lab per test session (booting and deploying takes ~15 s); before each test `steady` brings it back
to the baseline (lab/drills.py: every host up with its agent, links and storage restored, no
maintenance, the Engine healthy, the audit clean), so tests do not depend on each other's order. The
lab is torn down at the end of the session even when tests fail, touching only what it started (its
hosts' namespace inits by pid, its switch by name). Recovery times are printed at the end of the run.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
from dataclasses import dataclass

import pytest

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.lab import audit, drills
from vdsm_hosted_engine.lab.lab import IO_TIMEOUT, Lab

HOSTS = 3
SANLOCK_FLOOR = constants.host_dead_seconds(IO_TIMEOUT)
_timings: list[tuple[str, float, str]] = []
_figures: list[str] = []  # other measurements (e.g. the gluster processes' RSS), one line each


def pytest_terminal_summary(terminalreporter):
    if _timings:
        terminalreporter.section("lab recovery times")
        for what, seconds, note in _timings:
            terminalreporter.write_line(f"{what:55} {seconds:7.1f} s  {note}")
    if _figures:
        terminalreporter.section("lab figures")
        for line in _figures:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(items):
    """The random campaign runs after the other e2e tests: the history its faults leave in the agents
    (e.g. two local crash restarts in the restart window make a host step back on the next crash)
    must not decide what a per-row test sees."""
    here = pathlib.Path(__file__).parent
    campaign = [i for i in items if i.path == here / "test_campaign.py"]
    e2e = [i for i in items if i.path.parent == here and i not in campaign]
    if campaign and e2e:
        rest = [i for i in items if i not in campaign]
        at = rest.index(e2e[-1]) + 1
        items[:] = rest[:at] + campaign + rest[at:]


_current_lab: Lab | None = None
LOG_TAIL = 60  # lines of each host's agent log attached to a failed e2e test's report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed e2e test carries the last lines of every host's agent log in its report: CI shows
    only the terminal output, and the lab folder is gone by then."""
    report = yield
    if report.failed and call.when == "call" and _current_lab is not None:
        for name, host in sorted(_current_lab.hosts.items()):
            path = os.path.join(host.dir, "log", "vdsm-hosted-engine.log")
            try:
                with open(path, errors="replace") as f:
                    tail = f.readlines()[-LOG_TAIL:]
            except OSError as e:
                tail = [f"(no agent log: {e})\n"]
            report.sections.append((f"{name} agent log (last {LOG_TAIL} lines)", "".join(tail)))
    return report


@pytest.fixture(scope="session")
def lab():
    global _current_lab
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (namespaces, bridges)")
    folder = tempfile.mkdtemp(prefix="he-e2e-", dir="/var/tmp")
    # HE_E2E_NETWORK: another subnet, so that two labs can run on one machine (their routes would clash)
    network = os.environ.get("HE_E2E_NETWORK", "192.168.231.0/24")
    lab = Lab(folder, switch=f"het{os.getpid() % 100000}", network=network)
    try:
        lab.up(HOSTS)
        lab.deploy("host1")
        lab.start_agent("host1")
        for name in sorted(lab.hosts)[1:]:
            lab.join(name)
            lab.start_agent(name)
        _current_lab = lab
        yield lab
    finally:
        _current_lab = None
        lab.down()
        if not os.environ.get("HE_E2E_KEEP"):  # HE_E2E_KEEP=1 keeps the lab folder (logs) for a post-mortem
            shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Steady:
    lab: Lab
    finding: audit.Finding

    def healthy(self) -> str | None:
        return drills.healthy_host(self.lab)

    def wait_healthy(self, timeout: float, where=lambda host: True) -> str:
        return drills.wait_healthy(self.lab, timeout, where)

    def audit(self, settle: float = 60.0) -> audit.Finding:
        self.finding = audit.audit(self.lab, settle=settle)
        return self.finding

    def record(self, what: str, seconds: float, note: str = "") -> None:
        _timings.append((what, seconds, note))

    def drill(self, name: str, note: str = "", timeout: float = 300) -> drills.Result:
        result = drills.run(self.lab, name, timeout)
        self.record(f"{name}: {result.source} -> healthy on {result.target}", result.seconds, note)
        self.finding = audit.look(self.lab)
        return result

    def boot_ids(self) -> list[str]:
        return drills.boot_ids(self.lab)

    def maintenance(self, host: str, mode: str) -> None:
        self.lab.call(host, "setMaintenance", {"mode": mode})


@pytest.fixture
def steady(lab):
    """The lab at its baseline, and helpers for the test."""
    return Steady(lab, drills.baseline(lab))
