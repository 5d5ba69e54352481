"""`ha.conf`: this host's HA state that must survive a reboot, as oVirt keeps it.

oVirt's agent stores local maintenance in `/etc/ovirt-hosted-engine/ha.conf` as
`local_maintenance=True|False`, beside hosted-engine.conf. A flag in the run directory (a tmpfs) was
lost on reboot: a host put in maintenance for repair came back and took the Engine. Written with a
temporary file, fsync and rename, so a crash leaves the old or the new file, never half of one.
Other keys in the file are kept as they are.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

FILE_NAME = "ha.conf"
KEY = "local_maintenance"


def path_for(conf_source: str, run_dir: str) -> str:
    """Beside hosted-engine.conf (its directory), or in the run directory without one."""
    directory = os.path.dirname(os.path.abspath(conf_source)) if conf_source else run_dir
    return os.path.join(directory, FILE_NAME)


def _lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def local_maintenance(path: str) -> bool:
    """The flag; False when the file or the key is missing. An unreadable file raises OSError."""
    for line in _lines(path):
        key, sep, value = line.partition("=")
        if sep and key.strip() == KEY:
            return value.strip().lower() == "true"
    return False


def set_local_maintenance(path: str, enabled: bool) -> None:
    kept = [line for line in _lines(path) if line.partition("=")[0].strip() != KEY]
    text = "\n".join([*kept, f"{KEY}={enabled}"]) + "\n"
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    logger.info("local maintenance %s (%s)", "on" if enabled else "off", path)
