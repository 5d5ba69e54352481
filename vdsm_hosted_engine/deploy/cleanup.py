"""`hosted-engine --cleanup` (oVirt's `ovirt-hosted-engine-cleanup`): remove a deployment from this
host, also a half-done one, so that deploy can run again.

What it removes, in order: the Engine VM in this host's libvirt (found by its name, whichever deploy
defined it), this host's sanlock host id in the domain's lockspace, the storage domain's
hosted-engine content (only when no other host has joined it), and the local configuration
(hosted-engine.conf, vm.conf; answers.conf stays, for `deploy --config-append`). It refuses, before
removing anything, while the Engine VM runs here or the HA daemon answers here, and keeps a domain
other hosts have joined; `force` overrides all three. Each thing it could not remove is named.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

from vdsm_hosted_engine import config as config_
from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.rpc.client import daemon_answers, daemon_socket
from vdsm_hosted_engine.storage import mount
from vdsm_hosted_engine.storage.domain import StorageDomain
from vdsm_hosted_engine.virt.domxml import VmConfig

logger = logging.getLogger(__name__)

ENGINE_VM_NAME = VmConfig.__dataclass_fields__["name"].default


class CleanupRefused(HostedEngineError):
    """Removing the deployment now would stop the Engine or a running agent (without force)."""

    expected = True


@dataclass
class Cleanup:
    """What was removed, what was kept on purpose and what could not be removed."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    def attempt(self, what: str, action: Callable[[], None]) -> None:
        try:
            action()
            self.removed.append(what)
        except Exception as e:  # every leftover is reported, not the first one only
            logger.warning("cleanup: cannot remove %s: %s", what, e)
            self.left.append(f"{what}: {e}")


def engine_vm(libvirt_uri: str):  # -> (libvirt connection, its Engine VM domain or None)
    """The domain named as deploy names the Engine VM, whichever deploy defined it (listed, not looked
    up: a failed lookup makes libvirt print an error)."""
    import libvirt

    conn = libvirt.open(libvirt_uri)
    try:
        found = [d for d in conn.listAllDomains() if d.name() == ENGINE_VM_NAME]
    except libvirt.libvirtError:
        conn.close()
        raise
    return conn, (found[0] if found else None)


def _remove_vm(dom) -> None:
    persistent = dom.isPersistent()  # asked first: a transient domain is gone once destroyed
    if dom.isActive():
        dom.destroy()
    if persistent:
        dom.undefine()


def cleanup(conf_dir: str, run_dir: str, libvirt_uri: str, force: bool = False) -> Cleanup:
    """Remove this host's deployment (see the module docstring); CleanupRefused changes nothing."""
    host_conf = os.path.join(conf_dir, "hosted-engine.conf")
    conf = None
    if os.path.exists(host_conf):
        try:
            conf = config_.load_host_config(host_conf)
        except HostedEngineError as e:
            logger.warning("cleanup: %s does not load (%s): removing it anyway", host_conf, e)
    if conf is not None:
        run_dir, libvirt_uri = conf.run_dir, conf.libvirt_uri
    conn, dom = engine_vm(libvirt_uri)
    result = Cleanup()
    try:
        if not force:
            if dom is not None and dom.isActive():
                raise CleanupRefused(
                    f"the Engine VM ({ENGINE_VM_NAME}) runs on this host: move or stop it first (hosted-engine "
                    "--set-maintenance --mode=global, then --vm-shutdown), or --cleanup --force destroys it"
                )
            if daemon_answers(run_dir):
                raise CleanupRefused(
                    f"the HA daemon runs on this host (it answers at {daemon_socket(run_dir)}): stop "
                    "it first (systemctl stop vdsm-hosted-engine), or --cleanup --force"
                )
        if dom is not None:
            result.attempt(f"the Engine VM {ENGINE_VM_NAME} in {libvirt_uri}", lambda: _remove_vm(dom))
    finally:
        conn.close()
    if conf is not None:
        _clean_storage(conf, force, result)
    for name in ("hosted-engine.conf", "vm.conf"):
        path = os.path.join(conf_dir, name)
        if os.path.exists(path):
            result.attempt(path, lambda path=path: os.unlink(path))
    return result


def _clean_storage(conf: config_.HostConfig, force: bool, result: Cleanup) -> None:
    """The domain where the conf says (a connection is mounted to be cleaned, and unmounted after)."""
    connection = conf.connection
    try:
        mount.connect(connection, conf.mount_root)
    except HostedEngineError as e:
        result.left.append(f"the storage domain on {conf.storage}: {e}")
        return
    try:
        if StorageDomain.exists_at(conf.domain_path):
            _clean_domain(conf, force, result)
    finally:
        if connection.mounted:
            where = connection.mount_point(conf.mount_root)
            unmount = lambda: mount.disconnect(connection, conf.mount_root)  # noqa: E731
            result.attempt(f"the mount of {conf.storage} at {where}", unmount)


def _clean_domain(conf: config_.HostConfig, force: bool, result: Cleanup) -> None:
    path = conf.domain_path
    domain = StorageDomain.open(path)
    lockspace = domain.lockspace()
    result.attempt(f"host id {conf.host_id} in the lockspace of {path}", lambda: lockspace.leave(conf.host_id))
    others = sorted(h for h in domain.whiteboard().read().hosts if h != conf.host_id)
    if others and not force:
        result.kept.append(
            f"the storage domain in {path}: hosts {', '.join(map(str, others))} joined it (--force removes it)"
        )
        return
    for part in (constants.HA_AGENT_DIR, constants.IMAGES_DIR):
        part_path = os.path.join(path, part)
        result.attempt(part_path, lambda part_path=part_path: shutil.rmtree(part_path))
