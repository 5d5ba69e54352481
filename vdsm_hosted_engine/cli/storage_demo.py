"""`make demo` (until the multi-host lab lands): the storage layer on two real sanlock hosts.

Creates a storage domain in a temporary directory, starts one sanlock daemon per simulated host,
joins both to the lockspace, publishes both whiteboard slots, shows what every host reads, lets
host 1 hold the Engine VM lease, then crashes host 1 and times how long until host 2 may take the
lease (sanlock's host_dead floor). Everything it started is stopped at the end, by pid.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.cli.whiteboard_dump import render_text
from vdsm_hosted_engine.lab.sanlock_daemon import SanlockDaemon
from vdsm_hosted_engine.lab.storage_host import StorageHost, StorageHostError

UP = {"vm": "up", "health": "good", "detail": "Up", "reason": ""}


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f} s] {text}", flush=True)


def _wait(predicate, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"demo: gave up after {timeout} s")


def run(workdir: str, io_timeout: int, crash: bool) -> None:
    clock = Clock()
    daemons: list[SanlockDaemon] = []
    hosts: list[StorageHost] = []
    try:
        admin = SanlockDaemon(os.path.join(workdir, "admin"), "demo-admin")
        admin.start()
        daemons.append(admin)
        os.environ["SANLOCK_RUN_DIR"] = admin.run_dir
        from vdsm_hosted_engine.storage.domain import StorageDomain

        domain_dir = os.path.join(workdir, "domain")
        os.mkdir(domain_dir)
        domain = StorageDomain.create(domain_dir, io_timeout=io_timeout, now=time.time())
        clock.say(f"created storage domain {domain.identity.sd_uuid} in {domain_dir} (io_timeout {io_timeout} s)")
        for name in sorted(os.listdir(domain.ha_agent_dir)):
            size = os.path.getsize(os.path.join(domain.ha_agent_dir, name))
            print(f"           ha_agent/{name:28} {size:>9} bytes")

        for host_id in (1, 2):
            daemon = SanlockDaemon(os.path.join(workdir, f"host{host_id}"), f"demo-host{host_id}")
            daemon.start()
            daemons.append(daemon)
            hosts.append(StorageHost(domain_dir, daemon.env, f"host{host_id}"))
            clock.say(f"host {host_id}: sanlock daemon running (pid {daemon.pid})")
        h1, h2 = hosts
        for host_id, host in ((1, h1), (2, h2)):
            started = time.monotonic()
            host.call("join", host_id=host_id)
            clock.say(
                f"host {host_id}: joined lockspace hosted-engine as host id {host_id}"
                f" ({time.monotonic() - started:.1f} s)"
            )
        view = _wait(lambda: (v := h1.call("hosts")) and len(v) == 2 and set(v.values()) == {"live"} and v, 30)
        clock.say(f"sanlock liveness seen by host 1: {json.dumps(view, sort_keys=True)}")

        h1.call("write_slot", host_id=1, score=3400, hostname="host1", state="EngineUp", engine_status=UP)
        h2.call("write_slot", host_id=2, score=3400, hostname="host2", state="EngineDown")
        clock.say("both hosts published their whiteboard slot; host 2 reads:")
        print(_indent(render_text(h2.call("read"))))

        h1.call("acquire")
        clock.say(f"host 1 holds the engine-vm lease; owners seen by host 2: {h2.call('owners')}")
        try:
            h2.call("acquire")
        except StorageHostError as e:
            clock.say(f"host 2 tries to take it: refused ({e})")
        if not crash:
            return

        floor = constants.host_dead_seconds(io_timeout)
        # A second process on host 2's daemon tries to take the lease: acquire blocks inside sanlock
        # until the lease is free, while host 2's first process watches host 1's liveness.
        taker = StorageHost(domain_dir, daemons[2].env, "host2-taker")
        hosts.append(taker)
        clock.say(f"crashing host 1 (SIGKILL of its sanlock daemon and the lease holder); sanlock floor {floor} s")
        daemons[1].kill()
        h1.kill()
        crashed = time.monotonic()
        outcome: dict[str, float] = {}

        def take() -> None:
            # Refused at once (-243) while host 1 still looks live; once it is failing, sanlock
            # blocks the call until host 1 is dead.
            while time.monotonic() - crashed < 3 * floor:
                try:
                    taker.call("acquire")
                except StorageHostError as e:
                    if e.kind != "LeaseHeldElsewhere":
                        clock.say(f"host 2 could not take the lease: {e}")
                        return
                    time.sleep(0.5)
                    continue
                outcome["taken"] = time.monotonic() - crashed
                return

        thread = threading.Thread(target=take, daemon=True)
        thread.start()
        clock.say("host 2 asks sanlock for the engine-vm lease until it gets it")
        last = None

        def taken() -> bool:
            nonlocal last
            state = (h2.call("hosts") or {}).get("1")
            if state != last:
                clock.say(f"host 2 sees host 1 as {state.upper() if state else state}")
                last = state
            return not thread.is_alive()

        _wait(taken, 3 * floor)
        if "taken" in outcome:
            clock.say(f"host 2 took the engine-vm lease {outcome['taken']:.1f} s after the crash (floor {floor} s)")
            clock.say(f"owners now: {h2.call('owners')}")
    finally:
        for host in hosts:
            host.kill()
        for daemon in reversed(daemons):
            daemon.stop(timeout=3)
        clock.say("stopped every process the demo started")


def _indent(text: str) -> str:
    return "\n".join(f"           {line}" for line in text.rstrip("\n").splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vdsm_hosted_engine.cli.storage_demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--io-timeout", type=int, default=1)
    parser.add_argument("--no-crash", action="store_true", help="skip the ~70 s crash and lease takeover")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="he-demo-", dir="/var/tmp")
    try:
        run(workdir, args.io_timeout, crash=not args.no_crash)
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            with contextlib.suppress(OSError):
                shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
