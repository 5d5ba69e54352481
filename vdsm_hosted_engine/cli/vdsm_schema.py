"""`python3 -m vdsm_hosted_engine.cli.vdsm_schema install|remove`: the merged schema for vdsm-client
(verbs/merged_schema.py says what and where); the RPM's scriptlets and file triggers run it."""

from __future__ import annotations

import argparse
import logging
import sys

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.verbs import merged_schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m vdsm_hosted_engine.cli.vdsm_schema",
        description="Merge the HostedEngine verbs and events into VDSM's schema, where vdsm-client reads it.",
    )
    parser.add_argument("action", choices=["install", "remove"])
    parser.add_argument("--vdsm-dir", help="VDSM's package directory (default: where `vdsm` is installed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        vdsm_dir = args.vdsm_dir or merged_schema.vdsm_package_dir()
        paths = merged_schema.install(vdsm_dir) if args.action == "install" else merged_schema.remove(vdsm_dir)
    except (InvalidRequest, OSError) as e:
        print(f"vdsm_schema: {e}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"{args.action}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
