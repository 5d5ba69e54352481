"""`python -m vdsm_hosted_engine.cli.whiteboard_dump dump FILE [--json]`: what a metadata file holds.

For admins when the daemon is down: reads the file (O_DIRECT, like the agent), decodes every slot
and prints it, damaged slots listed with the reason they are ignored. Changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys

from vdsm_hosted_engine.cli.status_text import render_text
from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.storage import whiteboard
from vdsm_hosted_engine.storage.whiteboard_file import WhiteboardFile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vdsm_hosted_engine.cli.whiteboard_dump")
    sub = parser.add_subparsers(dest="command", required=True)
    dump = sub.add_parser("dump", help="print what a hosted-engine.metadata file holds")
    dump.add_argument("file")
    dump.add_argument("--json", action="store_true", help="oVirt's --vm-status --json shape")
    args = parser.parse_args(argv)
    try:
        board = WhiteboardFile(args.file).read()
    except HostedEngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    status = whiteboard.status_dict(board)
    if args.json:
        print(json.dumps(status, indent=4, sort_keys=True))
    else:
        sys.stdout.write(render_text(status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
