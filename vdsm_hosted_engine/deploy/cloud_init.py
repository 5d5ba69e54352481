"""The Engine VM's first-boot configuration: a cloud-init NoCloud seed (pure, but for `build_seed`).

A NoCloud seed is an ISO 9660 image labelled `cidata` holding three files, which cloud-init in the
appliance reads from the CD-ROM at first boot:

  meta-data       YAML: `instance-id` (a new one makes cloud-init apply the seed again), `local-hostname`
  user-data       `#cloud-config` YAML: hostname and FQDN, root's hashed password and ssh key, and an
                  optional script run once at the end (the Engine's own setup)
  network-config  network config version 2: the NIC matched by its MAC, DHCP or a static address with
                  the default route and DNS servers

The root password is only ever here as a crypt hash (SHA-512, `openssl passwd -6`, the clear text
passed on stdin); nothing logs a seed's content. `build_seed` writes the ISO with genisoimage.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass

import yaml

logger = logging.getLogger(__name__)

VOLUME_ID = "cidata"  # what cloud-init's NoCloud datasource looks for


@dataclass(frozen=True)
class StaticNetwork:
    address: str  # address/prefix, e.g. 192.0.2.10/24
    gateway: str
    dns: tuple[str, ...] = ()
    search: tuple[str, ...] = ()


@dataclass(frozen=True)
class Seed:
    instance_id: str
    fqdn: str
    mac: str
    network: StaticNetwork | None = None  # None: DHCP
    root_password_hash: str | None = None
    ssh_key: str | None = None
    setup_script: str | None = None  # shell script run once at first boot, last

    @property
    def hostname(self) -> str:
        return self.fqdn.split(".", 1)[0]


def _yaml(data: object) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False)


def meta_data(seed: Seed) -> str:
    return _yaml({"instance-id": seed.instance_id, "local-hostname": seed.hostname})


def network_config(seed: Seed) -> str:
    nic: dict[str, object] = {"match": {"macaddress": seed.mac}, "set-name": "eth0"}
    if seed.network is None:
        nic["dhcp4"] = True
    else:
        nic["dhcp4"] = False
        nic["addresses"] = [seed.network.address]
        nic["routes"] = [{"to": "default", "via": seed.network.gateway}]
        if seed.network.dns or seed.network.search:
            servers: dict[str, object] = {}
            if seed.network.dns:
                servers["addresses"] = list(seed.network.dns)
            if seed.network.search:
                servers["search"] = list(seed.network.search)
            nic["nameservers"] = servers
    return _yaml({"version": 2, "ethernets": {"eth0": nic}})


def user_data(seed: Seed) -> str:
    config: dict[str, object] = {
        "hostname": seed.hostname,
        "fqdn": seed.fqdn,
        "prefer_fqdn_over_hostname": True,
        "manage_etc_hosts": True,
    }
    root: dict[str, object] = {"name": "root"}
    if seed.root_password_hash:
        root["hashed_passwd"] = seed.root_password_hash
        root["lock_passwd"] = False
        config["ssh_pwauth"] = True
    if seed.ssh_key:
        root["ssh_authorized_keys"] = [seed.ssh_key]
        config["disable_root"] = False
    if len(root) > 1:
        config["users"] = [root]
    if seed.setup_script:
        config["write_files"] = [{"path": "/root/engine-setup.sh", "permissions": "0700", "content": seed.setup_script}]
        config["runcmd"] = [["/root/engine-setup.sh"]]
    return "#cloud-config\n" + _yaml(config)


def hash_password(password: str) -> str:
    """A SHA-512 crypt hash (`$6$...`) of `password`, which goes to openssl on stdin, never argv."""
    result = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"], input=password + "\n", capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not result.stdout.startswith("$6$"):
        raise ValueError(f"openssl cannot hash the password: {result.stderr.strip() or 'no hash'}")
    return result.stdout.strip()


def build_seed(seed: Seed, path: str) -> None:
    """Write the NoCloud seed ISO to `path` (genisoimage, Joliet + Rock Ridge, volume `cidata`)."""
    with tempfile.TemporaryDirectory(prefix="he-seed-") as work:
        names = []
        for name, text in (
            ("meta-data", meta_data(seed)),
            ("user-data", user_data(seed)),
            ("network-config", network_config(seed)),
        ):
            with open(os.path.join(work, name), "w", encoding="utf-8") as f:
                f.write(text)
            names.append(os.path.join(work, name))
        result = subprocess.run(
            ["genisoimage", "-quiet", "-output", path, "-volid", VOLUME_ID, "-joliet", "-rock", *names],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise OSError(f"genisoimage could not write the cloud-init seed {path}: {result.stderr.strip()}")
    logger.info("wrote the cloud-init seed %s for %s", path, seed.fqdn)
