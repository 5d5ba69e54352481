"""Deploy's storage connection: the answers that name it, mounting it, and checking a GlusterFS
volume before anything is written (`storage/gluster.py` holds the rules).

Answers (oVirt's keys): `OVEHOSTED_STORAGE/domainType` (dir, nfs, glusterfs, posixfs; default dir),
`storageDomainConnection` (server:/path, host:/volume), `mntOptions`, `nfsVersion`, `vfsType`; with
`dir`, `OVEHOSTED_STORAGE/path` is the domain directory as before. Further hosts join from the same
connection: it is written into hosted-engine.conf and their daemons mount it at start.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from typing import Any

from vdsm_hosted_engine.errors import StorageError
from vdsm_hosted_engine.storage import gluster, mount
from vdsm_hosted_engine.storage.connection import DEFAULT_MOUNT_ROOT, StorageConnection, split_options

logger = logging.getLogger(__name__)


def _get(answers: Mapping[str, Any], key: str, default: Any = None) -> Any:
    value = answers.get(f"OVEHOSTED_STORAGE/{key}")
    return default if value in (None, "") else value


def domain_type(answers: Mapping[str, Any]) -> str:
    return _get(answers, "domainType", "dir")


def is_remote(answers: Mapping[str, Any]) -> bool:
    return domain_type(answers) != "dir"


def connection(answers: Mapping[str, Any]) -> StorageConnection:
    """ValueError (one sentence) when the answers do not make a connection."""
    kind = domain_type(answers)
    spec = _get(answers, "path") if kind == "dir" else _get(answers, "storageDomainConnection", "")
    return StorageConnection.parse(
        kind, spec, _get(answers, "mntOptions", ""), _get(answers, "nfsVersion", "auto"), _get(answers, "vfsType")
    )


def join_arguments(answers: Mapping[str, Any]) -> str:
    """What another host gives `hosted-engine --deploy --join` to reach the same storage."""
    conn = connection(answers)
    words = [f"--storage={shlex.quote(conn.spec)}"]
    if conn.domain_type != "dir":
        words.append(f"--storage-type={conn.domain_type}")
    if conn.mnt_options:
        words.append(f"--mnt-options={shlex.quote(','.join(conn.mnt_options))}")
    if conn.domain_type == "nfs" and conn.nfs_version != "auto":
        words.append(f"--nfs-version={conn.nfs_version}")
    if conn.vfs_type:
        words.append(f"--vfs-type={shlex.quote(conn.vfs_type)}")
    return " ".join(words)


def domain_path(answers: Mapping[str, Any], mount_root: str = DEFAULT_MOUNT_ROOT) -> str:
    return connection(answers).domain_path(mount_root)


def conf_values(answers: Mapping[str, Any]) -> dict[str, Any]:
    """hosted-engine.conf's storage keys (HostConfig field names) for these answers."""
    return connection(answers).conf_values()


def prepare(answers: Mapping[str, Any], io_timeout: int, mount_root: str = DEFAULT_MOUNT_ROOT) -> list[str]:
    """Check a GlusterFS volume, then mount the connection; every problem as one sentence (empty: go).
    Nothing is mounted when the volume is refused."""
    try:
        conn = connection(answers)
    except ValueError as e:
        return [str(e)]
    if not conn.mounted:
        return []
    problems: list[str] = []
    try:
        if conn.domain_type == "glusterfs":
            problems = gluster.check_connection(conn.spec, io_timeout)
        else:
            timing = conn.nfs_timing_problem(io_timeout)
            problems = [timing] if timing else []
        if not problems:
            mount.connect(conn, mount_root, io_timeout)
    except StorageError as e:
        problems.append(str(e))
    return problems


# -- validators for the questions (value, answers) -> value | ValueError ---------------------------


def validate_connection(value: Any, answers: Mapping[str, Any], context: object = None) -> str:
    spec = str(value).strip()
    kind = domain_type(answers)
    StorageConnection.parse(kind, spec, vfs_type="posix" if kind == "posixfs" else None)
    return spec


def validate_options(value: Any, answers: Mapping[str, Any], context: object = None) -> str:
    return ",".join(split_options(str(value)))
