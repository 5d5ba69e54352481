#!/usr/bin/env python3
"""What notifications and metrics cost the agent and a scrape.

- the agent thread's share of a notification: `Notifications.transition()` (number, keep, enqueue);
- the agent thread's share of the metrics: `Metrics.decided()` + two `observe()` per cycle;
- one scrape: the full exposition for a whiteboard of N hosts (all live, each with a slot).

Prints the median and p90 in microseconds (or milliseconds for the scrape); no targets are
asserted (the agent's cycle is 5 s; these are meant to stay far below a millisecond).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from prometheus_client import generate_latest

from vdsm_hosted_engine.ha.fsm import Decision, Memory, State
from vdsm_hosted_engine.ha.metrics import Metrics, View
from vdsm_hosted_engine.ha.notify import Notifications
from vdsm_hosted_engine.ha.score import Score
from vdsm_hosted_engine.ha.snapshot import Peer, Snapshot
from vdsm_hosted_engine.observations import Health, VmStatus
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.whiteboard import GlobalSlot, HostSlot, Whiteboard

MONITORS = {
    name: {"value": 1.0, "age": 1.0, "fresh": True}
    for name in ("network", "bridge", "mem-free", "cpu-load", "engine-health", "storage")
}


def view(hosts: int) -> View:
    slots = {
        h: HostSlot(h, 100, 3400, {"vm": "up" if h == 1 else "down"}, f"host{h}", extra={"mem_free_mib": "8192"})
        for h in range(1, hosts + 1)
    }
    peers = {h: Peer(h, 3400, Liveness.LIVE) for h in range(2, hosts + 1)}
    snapshot = Snapshot(
        now=100.0, host_id=1, score=3400, vm=VmStatus.UP, health=Health.GOOD, peers=peers, lease_owner=1
    )
    decision = Decision(State.ENGINE_UP, (), "no action", True, None, Memory(State.ENGINE_UP, since=50.0), 3400)
    return View(1, decision, snapshot, Score(3400), Whiteboard(GlobalSlot(), slots, {}), MONITORS, 4096, True)


def timed(fn, runs: int) -> list[float]:
    found = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        found.append(time.perf_counter() - t0)
    return found


def row(name: str, values: list[float], scale: float, unit: str) -> None:
    median = statistics.median(values) * scale
    p90 = statistics.quantiles(values, n=10)[8] * scale
    print(f"{name:42}{median:10.1f}{p90:10.1f}  {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--hosts", type=int, nargs="*", default=[3, 64, 250])
    args = parser.parse_args()
    print(f"{'':42}{'median':>10}{'p90':>10}")
    notifier = Notifications(1, "host1", dict, queue_size=10**6)  # not started: only the agent's share
    states = iter(["EngineUp", "EngineDown"] * args.runs)
    row("transition() on the agent thread", timed(lambda: notifier.transition(next(states), "s"), args.runs), 1e6, "us")
    metrics = Metrics(lambda: view(3))
    decision = view(3).decision

    def cycle() -> None:
        metrics.decided(decision, None)
        metrics.observe("cycle", 0.01)
        metrics.observe("whiteboard_read", 0.002)

    row("decided() + 2 observe() on the agent thread", timed(cycle, args.runs), 1e6, "us")
    for hosts in args.hosts:
        scraped = Metrics(lambda hosts=hosts: view(hosts))
        size = len(generate_latest(scraped.registry))
        runs = max(20, args.runs // hosts)
        row(
            f"scrape, {hosts} hosts ({size // 1024} KiB)",
            timed(lambda scraped=scraped: generate_latest(scraped.registry), runs),
            1e3,
            "ms",
        )


if __name__ == "__main__":
    main()
