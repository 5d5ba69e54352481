"""The HA daemon as a systemd service: is its unit installed here, start and stop it.

Deploy ends by handing the Engine VM to HA, which only holds once the daemon runs: through systemd
where the unit is installed and systemd runs, otherwise deploy says exactly what to run (the lab
starts its agents its own way).
"""

from __future__ import annotations

import os
import shutil
import subprocess

UNIT = "vdsm-hosted-engine.service"


def unit_installed(systemd_run: str = "/run/systemd/system") -> bool:
    """True when systemd runs here and knows the daemon's unit."""
    if not os.path.isdir(systemd_run) or shutil.which("systemctl") is None:
        return False
    result = subprocess.run(["systemctl", "cat", UNIT], capture_output=True, text=True, timeout=30, check=False)
    return result.returncode == 0


def _systemctl(*args: str) -> None:
    result = subprocess.run(["systemctl", *args, UNIT], capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"systemctl {' '.join(args)} {UNIT} failed: {result.stderr.strip()}")


def start() -> None:
    _systemctl("enable", "--now")


def stop() -> None:
    _systemctl("disable", "--now")


def manual_command(host_conf: str) -> str:
    """The command that runs the daemon for `host_conf` where systemd cannot."""
    return f"vdsm-hosted-engine --config={host_conf}"
