"""Mounting and unmounting the storage connection (`storage/connection.py` builds the commands).

`connect` mounts when nothing is mounted at the connection's mount point and refuses when something
else is; `disconnect` unmounts, never lazily, so a busy mount (the Engine VM's disk, sanlock's
lockspace file) refuses instead of vanishing under a running VM. Both run `mount`/`umount` with a
time limit: a dead NFS server or GlusterFS volume must not hang the daemon's start forever.
"""

from __future__ import annotations

import logging
import os
import subprocess

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import StorageUnavailable
from vdsm_hosted_engine.storage.connection import (
    DEFAULT_MOUNT_ROOT,
    MountEntry,
    StorageConnection,
    mount_problem,
    mounted_at,
    parse_mountinfo,
)

logger = logging.getLogger(__name__)

MOUNTINFO = "/proc/self/mountinfo"
MOUNT_TIMEOUT = 60.0  # seconds; a GlusterFS mount with one server gone takes ~ping-timeout


def mounts(path: str = MOUNTINFO) -> list[MountEntry]:
    """What this process's mount namespace has mounted."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return parse_mountinfo(f.read())
    except OSError as e:
        raise StorageUnavailable(f"cannot read {path}: {e.strerror}") from None


def check(conn: StorageConnection, root: str = DEFAULT_MOUNT_ROOT) -> str | None:
    """None when the connection is mounted as configured (or needs no mount); else one sentence."""
    return mount_problem(conn, mounts(), root) if conn.mounted else None


def _run(command: list[str], what: str) -> None:
    logger.info("running %s", " ".join(command))
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=MOUNT_TIMEOUT, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired:
        raise StorageUnavailable(f"{what} did not finish within {MOUNT_TIMEOUT:g} s") from None
    except OSError as e:
        raise StorageUnavailable(f"cannot run {command[0]}: {e.strerror}") from None
    if done.returncode != 0:
        reason = " ".join((done.stderr or done.stdout).split()) or f"exit status {done.returncode}"
        raise StorageUnavailable(f"{what} failed: {reason}")


def connect(
    conn: StorageConnection, root: str = DEFAULT_MOUNT_ROOT, io_timeout: int = constants.DEFAULT_IO_TIMEOUT
) -> bool:
    """Mount unless already mounted as configured; True when this call mounted it.
    Raises StorageUnavailable when something else is mounted there or the mount fails."""
    if not conn.mounted:
        return False
    where = conn.mount_point(root)
    entries = mounts()
    if mounted_at(entries, where) is not None:
        problem = mount_problem(conn, entries, root)
        if problem is not None:
            raise StorageUnavailable(problem)
        logger.info("%s %s is already mounted at %s", conn.domain_type, conn.spec, where)
        return False
    os.makedirs(where, exist_ok=True)
    _run(conn.mount_command(root, io_timeout), f"mounting {conn.spec} at {where}")
    problem = check(conn, root)
    if problem is not None:
        raise StorageUnavailable(f"mounted {conn.spec}, but {problem}")
    logger.info("mounted %s %s at %s", conn.domain_type, conn.spec, where)
    return True


def disconnect(conn: StorageConnection, root: str = DEFAULT_MOUNT_ROOT) -> bool:
    """Unmount if mounted as configured; True when this call unmounted it. Never touches a mount
    that is not the configured one."""
    if not conn.mounted:
        return False
    where = conn.mount_point(root)
    entries = mounts()
    if mounted_at(entries, where) is None:
        return False
    problem = mount_problem(conn, entries, root)
    if problem is not None:
        raise StorageUnavailable(f"not unmounting: {problem}")
    _run(conn.umount_command(root), f"unmounting {where}")
    logger.info("unmounted %s from %s", conn.spec, where)
    return True
