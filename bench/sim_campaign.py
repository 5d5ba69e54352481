#!/usr/bin/env python3
"""10,000 random fault schedules in the simulator (3-7 hosts, every fault class of the scenario
language): safety and liveness failures (with seeds), how long the Engine was unavailable after each
kind of fault, and how long it took to be healthy once everything was healed, by the last fault, in
simulated seconds (p50/p90/p99/max)."""

import argparse
import multiprocessing
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vdsm_hosted_engine.sim import campaign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes (default: every CPU)")
    args = parser.parse_args()
    started = time.monotonic()
    seeds = range(args.seed, args.seed + args.runs)
    with multiprocessing.Pool(args.jobs) as pool:
        report = campaign.report_of(pool.imap(campaign.run_one, seeds, chunksize=20), args.runs)
    print(campaign.render(report))
    print(f"\n{args.runs} runs in {time.monotonic() - started:.0f} s wall clock ({args.jobs} processes)")


if __name__ == "__main__":
    main()
