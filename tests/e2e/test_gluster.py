"""The failure table's rows on a GlusterFS replica-3 lab (`hosted-engine-lab up --storage=gluster`).

Its own lab (module scope): three hosts, each with glusterd and a brick, the volume mounted by the
product's own connection code, sanlock io_timeout 5 and ping-timeout 10 as the product's rule asks.
Subnet: HE_E2E_GLUSTER_NETWORK, default 192.168.233.0/24, and switch heg<pid>, so it never clashes with
the session's dir lab (conftest.py) or bench/failover.py's (192.168.232.0/24). The gluster processes'
RSS per host is printed with the recovery times.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.lab import audit, drills, gluster
from vdsm_hosted_engine.lab.lab import Lab

from .conftest import _figures, _timings

pytestmark = pytest.mark.e2e

SANLOCK_FLOOR = constants.host_dead_seconds(gluster.IO_TIMEOUT)
WATCH = 3 * gluster.PING_TIMEOUT  # seconds a lost brick is watched: past the stall of every peer's client


@pytest.fixture(scope="module")
def glab():
    """A 3-host gluster lab, deployed, agents running; torn down even when a test fails."""
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (namespaces, bridges)")
    if shutil.which("glusterd") is None:
        pytest.fail("glusterd is not installed: run scripts/setup-host.sh")
    folder = tempfile.mkdtemp(prefix="he-e2e-gluster-", dir="/var/tmp")
    network = os.environ.get("HE_E2E_GLUSTER_NETWORK", "192.168.233.0/24")
    lab = Lab(folder, switch=f"heg{os.getpid() % 100000}", network=network)
    try:
        started = time.monotonic()
        lab.up(3, storage="gluster")
        lab.deploy("host1")
        lab.start_agent("host1")
        for name in sorted(lab.hosts)[1:]:
            lab.join(name)
            lab.start_agent(name)
        _timings.append(("gluster lab: up, deploy, join", time.monotonic() - started, ""))
        yield lab
        for name, kinds in sorted(gluster.rss(lab).items()):
            each = ", ".join(f"{k} {v / 1024:.0f}" for k, v in sorted(kinds.items()))
            _figures.append(f"gluster RSS on {name}: {sum(kinds.values()) / 1024:.0f} MiB ({each} MiB)")
    finally:
        lab.down()
        if not os.environ.get("HE_E2E_KEEP"):
            shutil.rmtree(folder, ignore_errors=True)


def test_losing_one_brick_keeps_the_engine_running_and_every_lockspace(glab):
    """The share-loss drill.
    Given a healthy gluster lab with the Engine VM on host E;
    When E's brick dies, and after it is back and healed, another host's brick dies;
    Then through each loss the same qemu keeps running on E (no restart, E's agent stays EngineUp),
    every host keeps its lockspace, and each brick is back and the volume healed within a minute."""
    lab = glab
    engine = drills.baseline(lab).engine_host
    assert engine is not None
    boots = drills.boot_ids(lab)
    other = next(h for h in lab.brick_hosts() if h != engine)
    for victim in (engine, other):
        healed = drills.brick_loss(lab, victim, WATCH)
        assert drills.healthy_host(lab) == engine
        assert lab.call(engine, "getScore")["state"] == "EngineUp"
        _timings.append((f"gluster: {victim}'s brick lost {WATCH} s -> back and healed", healed,
                         "Engine kept running, no lockspace lost"))  # fmt: skip
    assert drills.boot_ids(lab) == boots
    audit.audit(lab, settle=60)


def test_host_crash_on_gluster_restarts_the_engine_elsewhere_and_no_healthy_host_loses_its_lockspace(glab):
    """Given a healthy gluster lab with the Engine VM on host E (a brick host);
    When E crashes (its brick, client and sanlock with it);
    Then the others keep their lockspaces through gluster's stall, the Engine is healthy on another
    host once sanlock frees the lease (not before its floor), and E rejoins with its brick healed."""
    lab = glab
    source = drills.baseline(lab).engine_host
    assert source is not None
    boots = len(drills.boot_ids(lab))
    lab.crash_host(source)
    started = time.monotonic()

    def healthy_elsewhere() -> str | None:
        audit.assert_safe(lab)
        drills.assert_lockspaces(lab)
        host = drills.healthy_host(lab)
        return host if host and host != source else None

    target = lab.wait("a healthy Engine on another host", healthy_elsewhere, 300, 1)
    seconds = time.monotonic() - started
    _timings.append((f"gluster host-crash: {source} -> healthy on {target}", seconds,
                     f"sanlock floor {SANLOCK_FLOOR} s"))  # fmt: skip
    assert seconds >= SANLOCK_FLOOR - 2, "the Engine started before sanlock could have freed its lease"
    assert len(drills.boot_ids(lab)) == boots + 1
    lab.restart_host(source)
    lab.wait("every brick online", lambda: len(gluster.brick_pids(lab)) == len(lab.brick_hosts()), 60)
    lab.wait("the volume healed", lambda: gluster.heal_pending(lab) == 0, 120, 1)
    finding = audit.audit(lab, settle=120)
    assert finding.engine_host == target and finding.states[source] == "EngineDown"
