"""`make demo` / `hosted-engine-lab demo`: the product on three hosts, a host crash, the Engine back.

Boots a lab in a temporary folder, deploys the Engine on host1 with `hosted-engine --deploy`, joins
host2 and host3, shows `hosted-engine --vm-status`, crashes the Engine's host (everything in it dies
at once) and shows the Engine coming back on another host, timed against sanlock's floor. Tears the
lab down at the end, also when interrupted.
"""

from __future__ import annotations

import shutil
import tempfile
import time

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.lab import audit
from vdsm_hosted_engine.lab.lab import IO_TIMEOUT, Lab


class Clock:
    def __init__(self, out) -> None:
        self.out = out
        self.start = time.monotonic()

    def say(self, text: str) -> None:
        self.out(f"[{time.monotonic() - self.start:6.1f} s] {text}")

    def block(self, text: str) -> None:
        for line in text.rstrip().splitlines():
            self.out(f"           | {line}")


def _healthy(lab: Lab) -> str | None:
    host = lab.engine_host()
    return host if host and "DB Up" in (lab.engine_get("/ovirt-engine/services/health") or "") else None


def _table(lab: Lab, via: str) -> str:
    status = lab.call(via, "getStatus")
    names = {v: k for k, v in lab.host_ids.items()}
    rows = [f"{'host':6} {'id':>3} {'score':>5}  {'live':5} engine"]
    for key, entry in sorted((k, v) for k, v in status.items() if k.isdigit()):
        engine = entry["engine-status"]
        rows.append(
            f"{names.get(int(key), '?'):6} {key:>3} {entry['score']:>5}  {entry['live-data']!s:5} "
            f"vm {engine.get('vm')}, health {engine.get('health')}"
        )
    return "\n".join(rows)


def run(out=print, network: str = "192.168.223.0/24", switch: str = "hedemo") -> None:
    clock = Clock(out)
    folder = tempfile.mkdtemp(prefix="hosted-engine-demo-", dir="/var/tmp")
    lab = Lab(folder, switch=switch, network=network)
    floor = constants.host_dead_seconds(IO_TIMEOUT)
    try:
        clock.say("three hypervisor hosts on this machine, each in its own namespaces with sanlock, libvirtd, qemu")
        timelines = lab.up(3)
        for name in sorted(timelines):
            clock.say(f"{name} up at {lab.host(name).address}, libvirtd answering after "
                      f"{timelines[name]['libvirtd']:.1f} s")  # fmt: skip
        clock.say("host1: hosted-engine --deploy (lab appliance: Debian cloud kernel + busybox, 128 MiB, TCG)")
        deploy = lab.deploy("host1")
        clock.block("\n".join(line for line in deploy.splitlines() if line.startswith("[")))
        lab.start_agent("host1")
        for name in ("host2", "host3"):
            clock.say(f"{name}: hosted-engine --deploy --join -> host id {lab.join(name)}")
            lab.start_agent(name)
        finding = audit.audit(lab, settle=60)
        source = finding.engine_host
        assert source is not None
        lab.wait("every agent publishing", lambda: all(lab.call(h, "getScore")["score"] > 0 for h in lab.hosts), 60)
        clock.say(f"agents running on every host; `hosted-engine --vm-status` on host2 (abridged to {source}):")
        status = lab.cli("host2", "--vm-status")
        clock.block(status.split("\n\n--== Host", 2)[0] if "--== Host" in status else status)
        clock.block(_table(lab, "host2"))
        boots = lab.boot_records()
        clock.say(f"the Engine answers {lab.health_url}: "
                  f"{(lab.engine_get('/ovirt-engine/services/health') or '').strip()!r}; boot records on its "
                  f"disk: {len(boots)}")  # fmt: skip
        survivors = [h for h in sorted(lab.hosts) if h != source]
        clock.say(f"CRASH {source}: SIGKILL of its namespace init (sanlock, libvirtd, qemu and the agent die at once)")
        crashed = time.monotonic()
        lab.crash_host(source)
        said: dict[str, str] = {}
        while True:
            host = _healthy(lab)
            if host:
                break
            for name in survivors:
                sentence = lab.call(name, "getScore")["sentence"]
                if said.get(name) != sentence:
                    said[name] = sentence
                    clock.say(f"  {name}: {sentence}")
            if time.monotonic() - crashed > 300:
                raise RuntimeError("the Engine did not come back within 300 s")
            time.sleep(0.5)
        healthy_after = time.monotonic() - crashed
        clock.say(f"the Engine is healthy on {host} {healthy_after:.1f} s after the crash "
                  f"(sanlock lets a dead host's lease go after {floor} s at io_timeout {IO_TIMEOUT} s; "
                  f"{constants.host_dead_seconds(constants.DEFAULT_IO_TIMEOUT)} s at the production 10 s)")  # fmt: skip
        finding = audit.audit(lab, settle=60)
        clock.say(f"audit: one qemu ({finding.engine_host}), lease held by {finding.lease_holders}, views agree")
        after = lab.boot_records()
        clock.say(f"boot records on the Engine disk: {[n for n, _ in after]} (one per boot: none lost, none twice)")
        clock.block(_table(lab, host))
    finally:
        for line in lab.down():
            clock.say(f"teardown: {line}")
        shutil.rmtree(folder, ignore_errors=True)
