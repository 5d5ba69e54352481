#!/usr/bin/env python3
"""10,000 random fault schedules in the simulator: failures (with seeds) and how long the Engine was
unavailable after each kind of fault, in simulated seconds (p50/p90/p99/max)."""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vdsm_hosted_engine.sim import campaign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    report = campaign.run_many(args.runs, args.seed)
    print(campaign.render(report))
    print(f"\n{args.runs} runs in {time.monotonic() - started:.0f} s wall clock")


if __name__ == "__main__":
    main()
