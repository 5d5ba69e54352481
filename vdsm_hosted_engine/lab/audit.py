"""The lab's audit: the product's promises checked from outside, on the real processes.

Safety (must hold at every instant; checked first, never waited for):
- at most one qemu process runs the Engine VM across all lab hosts;
- the only host whose sanlock lists the `engine-vm` lease held is the host running that qemu;
- a guest that runs holds the lease: a qemu whose host's sanlock lists no `engine-vm` lease while its
  libvirtd says the domain is running (not paused: libvirt acquires the lease only as it starts the
  guest's CPUs, and a migration's source releases it as the guest pauses) runs unleased.
Agreement (holds once the agents have seen the last change; waited for up to `settle` seconds):
- every live host's daemon answers, and all their views name the same host as running the Engine;
- no host's agent believes it runs the VM (an EngineUp-like state) while it has no qemu for it, and the
  host running it says so;
- every live host publishes the same identity (storage domain and Engine VM lease as it reads them), so
  any of them may receive the Engine VM live.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.storage import whiteboard

if TYPE_CHECKING:
    from vdsm_hosted_engine.lab.lab import Lab

ENGINE_VM = "HostedEngine"  # the Engine VM's libvirt name (qemu's guest=)
BELIEVES_RUNNING = ("EngineUp",)  # states that say "the Engine VM runs here"
BELIEVES_DOWN = ("EngineDown",)  # states that say "the Engine VM does not run here"


@dataclass
class Finding:
    qemu: list[tuple[str, int]]  # (host, pid)
    lease_holders: list[str]
    views: dict[str, str | None] = field(default_factory=dict)  # host -> host name its view says runs the Engine
    states: dict[str, str] = field(default_factory=dict)  # host -> its agent's state
    identities: dict[str, str] = field(default_factory=dict)  # host -> the identity it publishes
    safety: list[str] = field(default_factory=list)
    agreement: list[str] = field(default_factory=list)

    @property
    def engine_host(self) -> str | None:
        return self.qemu[0][0] if len(self.qemu) == 1 else None


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def qemu_processes(lab: Lab) -> list[tuple[str, int]]:
    """(host, pid) of every qemu running the Engine VM in a lab host (matched by pid namespace)."""
    namespaces = {}
    for host in lab.alive():
        assert host.init_pid is not None
        ns = _pid_namespace(host.init_pid)
        if ns:
            namespaces[ns] = host.name
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"qemu-system-x86_64"):
            continue
        if not any(a.startswith(f"guest={ENGINE_VM}".encode()) for a in argv):
            continue
        host = namespaces.get(_pid_namespace(int(entry)) or "")
        if host is not None:
            found.append((host, int(entry)))
    return sorted(found)


def lease_holders(lab: Lab, names: list[str] | None = None) -> list[str]:
    """Hosts (of `names`, default all live ones) whose sanlock daemon lists the Engine VM lease as
    held (`sanlock client status`)."""
    resource = f"r {constants.LOCKSPACE_NAME.decode()}:{constants.ENGINE_VM_RESOURCE.decode()}:"
    holders = []
    for host in lab.alive():
        if names is not None and host.name not in names:
            continue
        try:
            result = host.run(["sanlock", "client", "status"], timeout=10, check=False)
        except (subprocess.TimeoutExpired, OSError):
            continue
        if any(line.startswith(resource) for line in result.stdout.splitlines()):
            holders.append(host.name)
    return holders


def lockspace_members(lab: Lab) -> list[str]:
    """Live hosts whose sanlock daemon is in the `hosted-engine` lockspace (`sanlock client status`
    lists it, not being removed): a host that lost its lockspace drops out of this list."""
    prefix = f"s {constants.LOCKSPACE_NAME.decode()}:"
    members = []
    for host in lab.alive():
        try:
            result = host.run(["sanlock", "client", "status"], timeout=10, check=False)
        except (subprocess.TimeoutExpired, OSError):
            continue
        if any(line.startswith(prefix) and "REM" not in line for line in result.stdout.splitlines()):
            members.append(host.name)
    return members


def safety(lab: Lab) -> Finding:
    """The safety part of the audit alone (qemu processes and `sanlock client status` of each host):
    cheap enough to run every second while a fault lasts."""
    finding = Finding(qemu_processes(lab), lease_holders(lab))
    if len(finding.qemu) > 1:
        finding.safety.append(f"{len(finding.qemu)} Engine VM qemu processes: {finding.qemu}")
    expected = {finding.engine_host} if finding.engine_host else set()
    if len(finding.lease_holders) > 1 or not set(finding.lease_holders) <= expected:
        finding.safety.append(f"lease held by {finding.lease_holders}, qemu on {[h for h, _ in finding.qemu]}")
    for host, pid in finding.qemu:
        # Running by libvirt after sanlock listed no lease, and still no lease after that: the guest's
        # CPUs ran without it (libvirt acquires it before it starts them, releases it after pausing them).
        if (
            host not in finding.lease_holders
            and _guest_running(lab, host)
            and (host, pid) in qemu_processes(lab)
            and not lease_holders(lab, [host])
        ):
            finding.safety.append(f"the Engine VM runs on {host} (qemu {pid}) without its lease")
    return finding


def _guest_running(lab: Lab, host: str) -> bool:
    """Whether `host`'s libvirtd says the Engine VM's CPUs run (False if it does not answer)."""
    import libvirt

    try:
        conn = libvirt.open(lab.host(host).libvirt_uri)
    except libvirt.libvirtError:
        return False
    try:
        state, _reason = conn.lookupByName(ENGINE_VM).state()
    except libvirt.libvirtError:
        return False
    finally:
        conn.close()
    return state == libvirt.VIR_DOMAIN_RUNNING


def _view(lab: Lab, name: str) -> tuple[str | None, str, str]:
    """(host name the daemon's whiteboard view says runs a healthy-or-starting Engine, its agent state,
    the identity it publishes in its own slot)."""
    status = lab.call(name, "getStatus", timeout=5)
    score = lab.call(name, "getScore", timeout=5)
    by_id = {v: k for k, v in lab.host_ids.items()}
    running = [
        by_id.get(int(host_id), f"id{host_id}")
        for host_id, entry in status.items()
        if host_id.isdigit() and entry.get("live-data") and entry.get("engine-status", {}).get("vm") == "up"
    ]
    own = status.get(str(lab.host_ids.get(name)), {})
    extra = whiteboard.info_from_text(str(own.get("extra", "")))
    where = running[0] if len(running) == 1 else ("+".join(sorted(running)) or None)
    return where, score["state"], extra.get("identity", "")


def look(lab: Lab) -> Finding:
    finding = safety(lab)
    for host in lab.alive():
        if not os.path.exists(host.socket):
            continue  # not configured / agent not started
        try:
            finding.views[host.name], finding.states[host.name], finding.identities[host.name] = _view(lab, host.name)
        except Exception as e:  # a daemon that does not answer is a finding, not a crash
            finding.agreement.append(f"{host.name}'s daemon does not answer: {e}")
    if len(set(finding.views.values())) > 1:
        finding.agreement.append(f"views disagree on where the Engine runs: {finding.views}")
    if finding.views and set(finding.views.values()) != {finding.engine_host}:
        finding.agreement.append(f"views {finding.views} but qemu runs on {finding.engine_host}")
    if len(set(finding.identities.values())) > 1:
        finding.agreement.append(f"hosts publish different identities: {finding.identities}")
    for name, state in finding.states.items():
        if state in BELIEVES_RUNNING and name != finding.engine_host:
            finding.agreement.append(f"{name} is in {state} without the Engine VM")
    if finding.engine_host in finding.states and finding.states[finding.engine_host] in BELIEVES_DOWN:
        finding.agreement.append(
            f"{finding.engine_host} runs the Engine VM but is in {finding.states[finding.engine_host]}"
        )
    return finding


class AuditFailed(AssertionError):
    pass


def assert_safe(lab: Lab) -> Finding:
    """`safety`, raising AuditFailed at a violation (for a fault's duration)."""
    finding = safety(lab)
    if finding.safety:
        raise AuditFailed("SAFETY: " + "; ".join(finding.safety))
    return finding


def audit(lab: Lab, settle: float = 30.0, interval: float = 1.0) -> Finding:
    """Safety at once (raises at the first violation seen), agreement within `settle` seconds."""
    deadline = time.monotonic() + settle
    while True:
        finding = look(lab)
        if finding.safety:
            raise AuditFailed("SAFETY: " + "; ".join(finding.safety))
        if not finding.agreement:
            return finding
        if time.monotonic() > deadline:
            raise AuditFailed(f"after {settle:.0f} s: " + "; ".join(finding.agreement))
        time.sleep(interval)
