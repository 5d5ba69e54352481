#!/usr/bin/env python3
"""Recovery times on the real lab (3 hosts: sanlock, libvirtd + qemu, our daemon): each drill of
lab/drills.py repeated --runs times from the baseline, median / min / max printed as a table, host
crash and storage loss against sanlock's floor for the lab's io_timeout (1 s: 68 s).

    bench/failover.py [--runs 3] [--drills vm-crash,engine-unhealthy,...] [--campaign N]

--campaign N runs N random drills instead (the long soak; prints the seed). Needs root. ~15 min for
the default 3 runs of every drill."""

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.lab import drills
from vdsm_hosted_engine.lab.lab import IO_TIMEOUT, Lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--drills", default=",".join(drills.DRILLS))
    parser.add_argument("--campaign", type=int, default=0, help="N random drills instead of the table")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="he-bench-", dir="/var/tmp")
    lab = Lab(folder, switch="hebench", network="192.168.232.0/24")
    floor = constants.host_dead_seconds(IO_TIMEOUT)
    times: dict[str, list[float]] = {}
    try:
        started = time.monotonic()
        lab.up(3)
        lab.deploy("host1")
        lab.start_agent("host1")
        for name in ("host2", "host3"):
            lab.join(name)
            lab.start_agent(name)
        drills.baseline(lab)
        print(f"lab of 3 hosts deployed in {time.monotonic() - started:.1f} s", flush=True)
        if args.campaign:
            rng = random.Random(args.seed)
            plan = [rng.choice(list(drills.DRILLS)) for _ in range(args.campaign)]
            print(f"campaign of {args.campaign} random drills, seed {args.seed}", flush=True)
        else:
            plan = [d for d in args.drills.split(",") for _ in range(args.runs)]
        for name in plan:
            result = drills.run(lab, name)
            times.setdefault(name, []).append(result.seconds)
            print(f"  {name:17} {result.source} -> {result.target}: {result.seconds:6.1f} s", flush=True)
    finally:
        lab.down()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\n{'drill':17} {'runs':>4} {'median':>8} {'min':>7} {'max':>7}  note")
    notes = {"host-crash": f"sanlock floor {floor} s", "storage-loss": f"sanlock floor {floor} s",
             "engine-unhealthy": "lab bad-health timeout 20 s"}  # fmt: skip
    for name, values in times.items():
        print(f"{name:17} {len(values):>4} {statistics.median(values):7.1f}s {min(values):6.1f}s {max(values):6.1f}s"
              f"  {notes.get(name, '')}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
