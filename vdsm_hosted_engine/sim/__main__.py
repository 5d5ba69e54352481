"""`python -m vdsm_hosted_engine.sim run SCENARIO_DIR [--update-golden]` and `... campaign`."""

import argparse
import sys

from vdsm_hosted_engine.sim import scenario


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vdsm_hosted_engine.sim")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario and compare its event log with expected.log")
    run.add_argument("scenario", nargs="+")
    run.add_argument("--update-golden", action="store_true", help="rewrite expected.log (review the diff!)")
    run.add_argument("--quiet", action="store_true", help="do not print the event log")
    camp = sub.add_parser("campaign", help="random fault schedules, invariants checked after every event")
    camp.add_argument("--runs", type=int, default=200)
    camp.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "campaign":
        from vdsm_hosted_engine.sim import campaign

        report = campaign.run_many(args.runs, args.seed)
        print(campaign.render(report))
        return 0 if not report.failures else 1
    status = 0
    for directory in args.scenario:
        spec, commands = scenario.load(directory)
        result = scenario.run(spec, commands)
        if not args.quiet:
            print("\n".join(result.lines))
        ok, text = scenario.compare(directory, result, args.update_golden)
        if text:
            print(text)
        if result.violations:
            print("INVARIANT VIOLATIONS:\n  " + "\n  ".join(result.violations))
        if not ok or result.violations:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
