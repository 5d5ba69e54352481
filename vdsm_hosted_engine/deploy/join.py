"""Joining a host to a deployed cluster: `hosted-engine --deploy --join --storage PATH`.

The host reads the shared configuration from the storage domain (the VM's `vm.*` keys and the
cluster's `he.*` keys written by the first deploy), takes a free host id, and writes its local
hosted-engine.conf and vm.conf.

Host ids are arbitrated by sanlock itself: acquiring a host id is sanlock's delta-lease algorithm,
which lets exactly one of several hosts racing for the same id win (the others get -262, "host ID
is being used by another host", sometimes only after waiting out host_dead). A joiner tries free ids
(no valid whiteboard slot) picked at random among the lowest few, so concurrent joiners rarely
collide, and moves on to another id when sanlock refuses; on success it claims the id's whiteboard
slot at once.

The host's hooks directory must hold the lease hook (`--hooks-dir`, default VDSM's): join checks it
before anything else.
"""

from __future__ import annotations

import logging
import os
import random
import time

from vdsm_hosted_engine import config as config_
from vdsm_hosted_engine import constants
from vdsm_hosted_engine.deploy.steps import HostPaths
from vdsm_hosted_engine.errors import InvalidRequest, SanlockError
from vdsm_hosted_engine.hooks import lease_hook
from vdsm_hosted_engine.storage import mount as storage_mount
from vdsm_hosted_engine.storage.connection import DEFAULT_MOUNT_ROOT, StorageConnection
from vdsm_hosted_engine.storage.domain import StorageDomain
from vdsm_hosted_engine.storage.shared_config import SharedConfig
from vdsm_hosted_engine.storage.whiteboard import HostSlot

logger = logging.getLogger(__name__)

SANLK_HOSTID_BUSY = 262
SPREAD = 16  # pick among this many of the lowest free ids


def free_ids(domain: StorageDomain) -> list[int]:
    board = domain.whiteboard().read()
    taken = set(board.hosts) | set(board.invalid)
    return [h for h in range(1, constants.MAX_HOST_ID + 1) if h not in taken]


def allocate_host_id(domain: StorageDomain, hostname: str, rng: random.Random | None = None, attempts: int = 20) -> int:
    """Join the lockspace with a free host id and claim its slot; the id."""
    rng = rng or random.Random(os.getpid() ^ time.monotonic_ns())
    lockspace = domain.lockspace()
    tried: set[int] = set()
    for _ in range(attempts):
        candidates = [h for h in free_ids(domain) if h not in tried][:SPREAD]
        if not candidates:
            break
        host_id = rng.choice(candidates)
        tried.add(host_id)
        try:
            lockspace.join(host_id)
        except SanlockError as e:
            if abs(e.errno) == SANLK_HOSTID_BUSY:
                logger.info("host id %d is taken by another host; trying another", host_id)
                continue
            raise
        down = {"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}
        domain.whiteboard(lockspace).write_host_slot(
            HostSlot(host_id, int(time.monotonic()), 0, down, hostname, state="StartState"), wall_time=time.time()
        )
        return host_id
    raise InvalidRequest(f"no free host id could be taken after {len(tried)} attempts")


def join(
    storage: str,
    paths: HostPaths,
    hostname: str,
    priority: int = 0,
    force: bool = False,
    connection: StorageConnection | None = None,
) -> int:
    """Configure this host from the domain; returns its host id. Refuses an existing local config,
    and a hooks_dir without the lease hook (before anything changes: the host would otherwise join
    and later start the Engine VM with no lease). With a `connection` (NFS, GlusterFS) it is mounted
    first, at `paths.mnt_root`, and written into hosted-engine.conf for the daemon to mount at start."""
    problem = lease_hook.installation_problem(paths.hooks_dir)
    if problem is not None:
        raise InvalidRequest(problem)
    if connection is not None and connection.mounted:
        storage_mount.connect(connection, paths.mnt_root)
        storage = connection.domain_path(paths.mnt_root)
    domain = StorageDomain.open(storage)
    if connection is None or not connection.mounted:
        connection = StorageConnection.parse("dir", domain.path)
    shared, _version = SharedConfig(domain.shared_conf_path).read()
    vm = {k[3:]: v for k, v in shared.items() if k.startswith("vm.")}
    he = {k[3:]: v for k, v in shared.items() if k.startswith("he.")}
    if "vmId" not in vm:
        raise InvalidRequest(f"{storage} has no Engine VM configuration: deploy the first host before joining")
    for path in (paths.host_conf, paths.vm_conf):
        if os.path.exists(path) and not force:
            raise InvalidRequest(f"{path} exists: this host is configured already (use --force to replace it)")
    host_id = allocate_host_id(domain, hostname)
    test = he.get("networkTest", "ping")
    conf = config_.HostConfig(
        host_id=host_id,
        **connection.conf_values(),
        mnt_root=None if paths.mnt_root == DEFAULT_MOUNT_ROOT else paths.mnt_root,
        sd_uuid=domain.identity.sd_uuid,
        vmid=vm["vmId"],
        fqdn=he.get("fqdn"),
        gateway=he.get("gateway"),
        bridge=he.get("bridgeName", constants.DEFAULT_BRIDGE),
        network_test=test,
        tcp_t_address=he.get("networkTestTarget") if test == "tcp" else None,
        tcp_t_port=int(he["networkTestPort"]) if test == "tcp" else None,
        hostname=hostname,
        priority=priority,
        libvirt_uri=paths.libvirt_uri,
        run_dir=paths.run_dir,
        hooks_dir=paths.hooks_dir,
        vm_conf=paths.vm_conf,
        health_url=he.get("healthUrl"),
        spare_hosts=int(he.get("spareHosts", "1")),
    )
    os.makedirs(paths.conf_dir, exist_ok=True)
    with open(paths.vm_conf, "w", encoding="utf-8") as f:
        f.write("".join(f"{k}={v}\n" for k, v in vm.items()))
    with open(paths.host_conf, "w", encoding="utf-8") as f:
        f.write(config_.render_host_config(conf))
    logger.info("joined as host id %d", host_id)
    return host_id
