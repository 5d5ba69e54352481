"""Failure drills on a running lab: bring it to its baseline, inject one fault, time the recovery.

Shared by the end-to-end tests (which add their assertions) and `bench/failover.py` (which repeats
them and prints medians), so a drill means the same thing in both. A drill's time runs from the
fault to the Engine's health page answering "DB Up" again, on whichever host the drill expects.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from vdsm_hosted_engine.config import ScoreConfig
from vdsm_hosted_engine.lab import audit
from vdsm_hosted_engine.lab.host import LabError
from vdsm_hosted_engine.lab.lab import Lab
from vdsm_hosted_engine.lab.probe import Probe


def healthy_host(lab: Lab) -> str | None:
    """The host whose Engine VM serves a healthy health page, if any."""
    host = lab.engine_host()
    if host and "DB Up" in (lab.engine_get("/ovirt-engine/services/health") or ""):
        return host
    return None


def wait_healthy(
    lab: Lab, timeout: float, where: Callable[[str], bool] = lambda host: True, watch: bool = False
) -> str:
    """The host where the Engine is healthy, once it is (within `timeout`); `watch`: the audit's safety
    rules are checked about once a second meanwhile (AuditFailed at the first violation)."""
    checked = [0.0]

    def found() -> str | None:
        if watch and time.monotonic() - checked[0] >= 1.0:
            checked[0] = time.monotonic()
            audit.assert_safe(lab)
        host = healthy_host(lab)
        return host if host and where(host) else None

    try:
        return lab.wait("a healthy Engine", found, timeout, 0.2)
    except LabError:
        if watch:
            audit.assert_safe(lab)  # a violation is the better reason to report
        raise


def boot_ids(lab: Lab) -> list[str]:
    """The Engine disk's boot ids; raises if the records are not 1, 2, 3... (lost or written twice)."""
    records = lab.boot_records()
    if [n for n, _ in records] != list(range(1, len(records) + 1)):
        raise audit.AuditFailed(f"boot records out of order: {records}")
    return [boot_id for _, boot_id in records]


def baseline(lab: Lab, timeout: float = 240) -> audit.Finding:
    """Every host up with its libvirtd and its agent (running, not hung, with our hooks), links and
    storage restored (every gluster brick online), no load, the real lease file, plain migrations, no
    maintenance, a healthy Engine whose host's agent is in EngineUp, and a clean audit (which waits for
    every host to publish the same identity again)."""
    for name, host in lab.hosts.items():
        if not host.alive():
            lab.restart_host(name)
        host.set_storage(True)
        if lab.agent_hung(name):
            lab.hang_agent(name, False)
        if not lab.libvirtd_running(name):
            lab.start_libvirtd(name)
        if lab.agent_running(name) and not lab.hooks_installed(name):
            lab.stop_agent(name)
        if not lab.agent_running(name):
            lab.start_agent(name)
        lab.set_lease_swap(name, False)
        lab.slow_migrations(name, False)
        lab.heal(name)
    lab.set_network("all", True)
    if lab.storage_kind == "gluster":
        from vdsm_hosted_engine.lab import gluster

        if len(gluster.brick_pids(lab)) < len(lab.brick_hosts()):
            lab.start_bricks()
    for name in lab.hosts:
        lab.call(name, "setMaintenance", {"mode": "none"})
    host = wait_healthy(lab, timeout)
    lab.wait(f"{host}'s agent in EngineUp", lambda: lab.call(host, "getScore")["state"] == "EngineUp", 90)
    return audit.audit(lab, settle=120)


@dataclass(frozen=True)
class Result:
    drill: str
    seconds: float  # fault -> healthy again
    source: str
    target: str
    boots_before: int
    boots_after: int
    pause: float | None = None  # migration: the longest gap in the Engine's answers (probe)
    downtime: float | None = None  # migration: the guest's pause as libvirt measured it on the destination


def _vm_crash(lab: Lab, source: str) -> Callable[[str], bool]:
    lab.kill_vm()
    lab.wait("the Engine VM gone", lambda: healthy_host(lab) is None, 30, 0.1)
    return lambda host: True


def _engine_unhealthy(lab: Lab, source: str) -> Callable[[str], bool]:
    lab.set_engine_health(False)
    return lambda host: True


def _network_loss(lab: Lab, source: str) -> Callable[[str], bool]:
    lab.set_network(source, False)
    return lambda host: host != source


def _storage_loss(lab: Lab, source: str) -> Callable[[str], bool]:
    lab.set_storage(source, False)
    return lambda host: host != source


def _host_crash(lab: Lab, source: str) -> Callable[[str], bool]:
    lab.crash_host(source)
    return lambda host: host != source


def _power_cut(lab: Lab, source: str, one_by_one: bool = False) -> Callable[[str], bool]:
    lab.power_cut()
    audit.assert_safe(lab)  # nothing runs
    lab.power_back([h for h in sorted(lab.hosts) if h != source] + [source], one_by_one)  # the Engine's host last
    return lambda host: True


STORAGE_BLIP = 40.0  # seconds: long enough for the Engine's host to lose its host id (8 x io_timeout)


def _storage_blip(lab: Lab, source: str) -> Callable[[str], bool]:
    lab.storage_blip(source, STORAGE_BLIP, lambda: audit.assert_safe(lab))
    return lambda host: True


DRILLS: dict[str, Callable[[Lab, str], Callable[[str], bool]]] = {
    "vm-crash": _vm_crash,
    "engine-unhealthy": _engine_unhealthy,
    "network-loss": _network_loss,
    "storage-loss": _storage_loss,
    "host-crash": _host_crash,
    "power-cut": _power_cut,
    "power-cut-one-by-one": lambda lab, source: _power_cut(lab, source, one_by_one=True),
    "storage-blip": _storage_blip,
}
# Drills that start with the Engine on the host the others rank last (the highest host id): after the
# fault its stale lease owner record names a host that will not restart the Engine itself.
LAST_CHOICE = ("power-cut", "power-cut-one-by-one", "storage-blip")
WATCHED = (
    "power-cut",
    "power-cut-one-by-one",
    "storage-blip",
)  # drills whose wait for the Engine checks safety every second


def migrate(lab: Lab, how: str = "request", timeout: float = 120) -> Result:
    """Live migration from the baseline, probed from the lab switch: `request` (hosted-engine
    --vm-migrate on the Engine's host), `cpu` (CPU pressure on it), `local-maintenance` (put it in local
    maintenance). Seconds: from the trigger to the Engine answering on another host; `pause`: the
    longest gap in its answers. The trigger is undone afterwards."""
    finding = baseline(lab)
    source = finding.engine_host
    assert source is not None
    before = len(boot_ids(lab))
    host = lab.host(source)
    with Probe(lab.engine_address) as probe:
        time.sleep(0.5)
        started = time.monotonic()
        try:
            if how == "request":
                host.run(host.python("vdsm_hosted_engine.cli.hosted_engine", "--vm-migrate"), timeout=timeout)
            elif how == "cpu":
                lab.degrade(source, "cpu")
            elif how == "local-maintenance":
                lab.call(source, "setMaintenance", {"mode": "local"})
            else:
                raise ValueError(f"no migration trigger {how!r}")
            target = lab.wait(
                "the Engine on another host", lambda: (h := lab.engine_host()) != source and h, timeout, 0.05
            )
            seconds = time.monotonic() - started
            wait_healthy(lab, 30, lambda h: h == target)
            time.sleep(0.5)
        finally:
            if how == "cpu":
                lab.heal(source)
            elif how == "local-maintenance":
                lab.call(source, "setMaintenance", {"mode": "none"})
    if len(probe.boot_ids()) != 1:
        raise audit.AuditFailed(f"the guest rebooted during the migration: boot ids {probe.boot_ids()}")
    audit.audit(lab, settle=60)
    downtime = migration_downtime(lab, target)
    return Result(f"migration ({how})", seconds, source, target, before, len(boot_ids(lab)), probe.gap(), downtime)


def migration_downtime(lab: Lab, host: str) -> float | None:
    """The last incoming migration's guest downtime in seconds, from the host's libvirtd (its completed
    job statistics), None if libvirt does not say."""
    import libvirt

    try:
        conn = libvirt.open(lab.host(host).libvirt_uri)
    except libvirt.libvirtError:
        return None
    try:
        stats = conn.lookupByName("HostedEngine").jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    except libvirt.libvirtError:
        return None
    finally:
        conn.close()
    return stats["downtime"] / 1000 if "downtime" in stats else None


FULL_SCORE = ScoreConfig().base  # the lab's agent.conf keeps oVirt's weights


def assert_lockspaces(lab: Lab) -> None:
    """Every live host is in the hosted-engine lockspace (AuditFailed naming those that are not)."""
    missing = sorted({h.name for h in lab.alive()} - set(audit.lockspace_members(lab)))
    if missing:
        raise audit.AuditFailed(f"lost the hosted-engine lockspace: {missing}")


def brick_loss(lab: Lab, victim: str, watch: float) -> float:
    """The share-loss drill (gluster lab): `victim`'s brick dies and stays down `watch` seconds, during
    which, every second, the audit's safety holds, every host stays in the lockspace and the Engine's
    qemu neither restarts nor moves (AuditFailed otherwise); then the brick is started again. Returns
    the seconds from its start to the volume healed."""
    from vdsm_hosted_engine.lab import gluster

    qemu = audit.qemu_processes(lab)
    lab.kill_brick(victim)
    lost = time.monotonic()
    while time.monotonic() - lost < watch:
        audit.assert_safe(lab)
        assert_lockspaces(lab)
        if audit.qemu_processes(lab) != qemu:
            raise audit.AuditFailed(f"the Engine VM's qemu changed from {qemu} to {audit.qemu_processes(lab)}")
        time.sleep(1)
    back = time.monotonic()
    lab.start_bricks()
    lab.wait("the volume healed", lambda: gluster.heal_pending(lab) == 0, 60, 1)
    return time.monotonic() - back


def last_choice(lab: Lab) -> str:
    """The host that every agent ranks last among equals (score.rank: the lower host id wins a tie)."""
    return max(lab.host_ids, key=lambda name: lab.host_ids[name])


def place(lab: Lab, target: str, timeout: float = 120) -> None:
    """Restart the Engine on `target` unless it runs there (an admin in global maintenance: power off,
    `startVM` on `target`, maintenance off; not a live migration, so that a drill's setup does not
    depend on the feature other tests exercise), then wait until it is healthy there, every host at the
    same full score (only the host id ranks them: the drill's premise) and the audit clean."""
    source = lab.engine_host()
    if source != target:
        assert source is not None
        lab.call(source, "setMaintenance", {"mode": "global"})
        try:
            lab.call(source, "poweroffVM")
            lab.wait("the Engine VM down", lambda: lab.engine_host() is None and not audit.lease_holders(lab), 60)
            lab.call(target, "startVM")
            wait_healthy(lab, timeout, lambda host: host == target)
        finally:
            lab.call(target, "setMaintenance", {"mode": "none"})
    lab.wait(f"{target}'s agent in EngineUp", lambda: lab.call(target, "getScore")["state"] == "EngineUp", 90)
    lab.wait(
        "every host at the full score",
        lambda: {lab.call(h.name, "getScore")["score"] for h in lab.alive()} == {FULL_SCORE},
        90,
    )
    audit.audit(lab, settle=60)


def run(lab: Lab, name: str, timeout: float = 300) -> Result:
    """One drill from the baseline; the fault is undone (link, storage) once the Engine is back."""
    finding = baseline(lab)
    source = finding.engine_host
    assert source is not None
    if name in LAST_CHOICE:
        source = last_choice(lab)
        place(lab, source)
    before = len(boot_ids(lab))
    started = time.monotonic()
    where = DRILLS[name](lab, source)
    try:
        target = wait_healthy(lab, timeout, where, watch=name in WATCHED)
        seconds = time.monotonic() - started
    finally:
        with contextlib.suppress(Exception):
            lab.set_network("all", True)
            lab.host(source).set_storage(True)
    audit.audit(lab, settle=120)
    return Result(name, seconds, source, target, before, len(boot_ids(lab)))
