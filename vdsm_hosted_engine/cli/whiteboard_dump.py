"""`python -m vdsm_hosted_engine.cli.whiteboard_dump dump FILE [--json]`: what a metadata file holds.

For admins when the daemon is down: reads the file (O_DIRECT, like the agent), decodes every slot
and prints it, damaged slots listed with the reason they are ignored. Changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys

from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.storage import whiteboard
from vdsm_hosted_engine.storage.whiteboard_file import WhiteboardFile


def render_text(status: dict) -> str:
    lines = []
    if status["global_maintenance"]:
        lines.append("!! Cluster is in GLOBAL MAINTENANCE mode !!")
    for key in sorted((k for k in status if k.isdigit()), key=int):
        host = status[key]
        lines.append("")
        lines.append(f"--== Host {host['hostname']} (id: {host['host-id']}) status ==--")
        lines.append("")
        for label, value in (
            ("Host ID", host["host-id"]),
            ("Host timestamp", host["host-ts"]),
            ("Score", host["score"]),
            ("Engine status", json.dumps(host["engine-status"], sort_keys=True)),
            ("Hostname", host["hostname"]),
            ("Local maintenance", host["maintenance"]),
            ("stopped", host["stopped"]),
            ("crc32", host["crc32"]),
            ("conf_on_shared_storage", host["conf_on_shared_storage"]),
            ("local_conf_timestamp", host["local_conf_timestamp"]),
        ):
            lines.append(f"{label:35}: {value}")
        if host.get("live-data") is not None:
            lines.append(f"{'Status up-to-date':35}: {host['live-data']}")
        lines.append(f"{'Extra metadata (valid at timestamp)':35}:")
        lines.extend(f"\t{line}" for line in host["extra"].splitlines())
    if status["invalid_slots"]:
        lines.append("")
        lines.append("Ignored slots:")
        for slot, reason in status["invalid_slots"].items():
            lines.append(f"  slot {slot}: {reason}")
    if not any(k.isdigit() for k in status):
        lines.append("no host has written its slot")
    return "\n".join(lines).lstrip("\n") + "\n"


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
