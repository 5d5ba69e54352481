"""`hosted-engine --connect-storage` / `--disconnect-storage`: mount or unmount the storage
connection of hosted-engine.conf, as oVirt's commands do (the daemon also mounts it at start).

Disconnecting refuses while the local daemon answers: its agent holds the lockspace on the mount and
the Engine VM may run here. `umount` is never lazy, so a mount still in use (a VM's disk, sanlock's
lockspace) refuses too instead of vanishing under them.
"""

from __future__ import annotations

import argparse

from vdsm_hosted_engine import config as config_
from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.rpc.client import daemon_answers
from vdsm_hosted_engine.storage import mount


def connect(args: argparse.Namespace) -> str:
    conf = config_.load_host_config(args.config)
    conn = conf.connection
    if not conn.mounted:
        return f"Success: domainType=dir, nothing to mount; the domain is {conf.domain_path}"
    mounted = mount.connect(conn, conf.mount_root)
    where = conn.mount_point(conf.mount_root)
    return f"Success: {'mounted' if mounted else 'already mounted:'} {conn.spec} at {where}"


def disconnect(args: argparse.Namespace) -> str:
    conf = config_.load_host_config(args.config)
    conn = conf.connection
    if not conn.mounted:
        return "Success: domainType=dir, nothing to unmount"
    if daemon_answers(conf.run_dir):
        raise InvalidRequest(
            "vdsm-hosted-engine runs on this host and holds the storage (the Engine VM may run here): "
            "stop it first (systemctl stop vdsm-hosted-engine)"
        )
    unmounted = mount.disconnect(conn, conf.mount_root)
    where = conn.mount_point(conf.mount_root)
    return f"Success: {'unmounted' if unmounted else 'not mounted:'} {where}"
