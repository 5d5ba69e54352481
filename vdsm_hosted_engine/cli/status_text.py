"""The text `hosted-engine --vm-status` prints (oVirt's layout) from getStatus's answer.

Its own module, importing nothing of ours, because every `--vm-status` process imports it: the
whiteboard codec and file reader, which the offline dump also needs, stay out of that process.
"""

from __future__ import annotations

import json


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
