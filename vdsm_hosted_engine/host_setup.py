"""`hosted-engine --configure-host`: make libvirt lease the Engine VM through sanlock (the
`vdsm-tool configure` analogue).

Sets, in libvirt's own files, only the settings our lease needs, keeping every other line and
comment: `/etc/libvirt/qemu.conf` `lock_manager = "sanlock"`; `/etc/libvirt/qemu-sanlock.conf`
`auto_disk_leases = 0` (we name the one lease we want in the domxml) and `require_lease_for_disks =
0`. Idempotent; reports what it changed; `--dry-run` shows the diff and changes nothing. Then checks
that the sanlock daemon answers. `root` lets the lab (and tests) configure a host's own /etc copy.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from dataclasses import dataclass

SETTINGS: dict[str, dict[str, str]] = {
    "etc/libvirt/qemu.conf": {"lock_manager": '"sanlock"'},
    "etc/libvirt/qemu-sanlock.conf": {"auto_disk_leases": "0", "require_lease_for_disks": "0"},
}


def set_keys(text: str, wanted: dict[str, str]) -> str:
    """`text` with each `key = value` set: an active line is replaced, a commented default is
    uncommented in place, otherwise the line is appended. Everything else is kept."""
    lines = text.splitlines()
    for key, value in wanted.items():
        active = re.compile(rf"^\s*{re.escape(key)}\s*=")
        commented = re.compile(rf"^\s*#\s*{re.escape(key)}\s*=")
        line = f"{key} = {value}"
        indexes = [i for i, current in enumerate(lines) if active.match(current)]
        if indexes:
            for i in indexes:
                lines[i] = line
            continue
        indexes = [i for i, current in enumerate(lines) if commented.match(current)]
        if indexes:
            lines[indexes[-1]] = line
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Change:
    path: str
    before: str
    after: str

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(True), self.after.splitlines(True), self.path, f"{self.path} (configured)"
            )
        )


def plan(root: str = "/") -> list[Change]:
    """What would change, file by file (only files that differ)."""
    changes = []
    for relative, wanted in SETTINGS.items():
        path = os.path.join(root, relative)
        try:
            with open(path, encoding="utf-8") as f:
                before = f.read()
        except FileNotFoundError:
            before = ""
        after = set_keys(before, wanted)
        if after != before:
            changes.append(Change(path, before, after))
    return changes


def apply(changes: list[Change]) -> None:
    for change in changes:
        os.makedirs(os.path.dirname(change.path), exist_ok=True)
        tmp = f"{change.path}.he-tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(change.after)
        if os.path.exists(change.path):
            os.chmod(tmp, os.stat(change.path).st_mode & 0o7777)
        os.replace(tmp, change.path)


def sanlock_warnings(root: str = "/") -> list[str]:
    """What in sanlock's configuration weakens the Engine VM's protection (read, never changed)."""
    path = os.path.join(root, "etc/sanlock/sanlock.conf")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    warnings = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "use_watchdog" and value.strip() in ("0", "no", "false"):
            warnings.append(f"{path}: use_watchdog = 0: a host that hangs could keep the Engine VM lease; enable wdmd")
    return warnings


def sanlock_answers(env: dict[str, str] | None = None) -> tuple[bool, str]:
    try:
        result = subprocess.run(
            ["sanlock", "client", "status"], capture_output=True, text=True, timeout=10, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return result.returncode == 0, (result.stderr or result.stdout).strip()
