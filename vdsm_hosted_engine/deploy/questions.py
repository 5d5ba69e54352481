"""The deploy questions: one list, one validator each, shared by every front end.

Keys follow oVirt's answer-file style (`OVEHOSTED_<GROUP>/<name>`), so an answer file reads like
oVirt's. A question has a type (str, int, bool), a default (a value, or a function of the answers so
far and the machine), an optional condition (asked only when it holds) and a validator that returns
the normalised value or raises ValueError with the reason shown to the user. Validators only read the
machine (deploy/validators.py); nothing here changes anything. The order matters: a validator may
use earlier answers (the gateway is pinged when the chosen test is ping, the disk must hold the
appliance).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vdsm_hosted_engine import config, constants
from vdsm_hosted_engine.deploy import machine, storage_connection
from vdsm_hosted_engine.deploy import validators as v
from vdsm_hosted_engine.deploy.validators import Answers, Context


@dataclass(frozen=True)
class Question:
    key: str
    group: str
    prompt: str
    type: str  # str | int | bool
    validate: v.Validator
    default: Any = None  # a value, or callable(answers) -> value
    when: Callable[[Answers], bool] | None = None
    optional: bool = False  # an empty answer means "not set"
    secret: bool = False  # not echoed, not shown in the summary, not saved unless asked

    def default_for(self, answers: Answers) -> Any:
        return self.default(answers) if callable(self.default) else self.default

    def applies(self, answers: Answers) -> bool:
        return self.when is None or self.when(answers)


def _given(key: str) -> Callable[[Answers], bool]:
    """Asked never: applies only when an answer file already gave it."""
    return lambda answers: f"OVEHOSTED_{key}" in answers


# -- the questions ---------------------------------------------------------------------------------


def _health_url(answers: Answers) -> str | None:
    fqdn = answers.get("OVEHOSTED_VM/fqdn")
    return f"http://{fqdn}/ovirt-engine/services/health" if fqdn else None


def _cloud_init(answers: Answers) -> bool:
    return bool(answers.get("OVEHOSTED_VM/cloudInit"))


def _static(answers: Answers) -> bool:
    return _cloud_init(answers) and answers.get("OVEHOSTED_VM/cloudinitNetwork") == "static"


def _fqdn_is_ip(answers: Answers) -> bool:
    try:
        ipaddress.ip_address(str(answers.get("OVEHOSTED_VM/fqdn")))
        return True
    except ValueError:
        return False


def _network_default(answers: Answers) -> str:
    return "static" if _fqdn_is_ip(answers) else "dhcp"


def _address_default(answers: Answers) -> str | None:
    return f"{answers['OVEHOSTED_VM/fqdn']}/24" if _fqdn_is_ip(answers) else None


def _smtp(answers: Answers) -> bool:
    return bool(answers.get("OVEHOSTED_NOTIF/smtpServer"))


QUESTIONS: tuple[Question, ...] = (
    Question(
        "OVEHOSTED_STORAGE/domainType",
        "storage",
        "Storage type (dir, nfs, glusterfs, posixfs)",
        "str",
        v.choice(*config.DOMAIN_TYPES),
        "dir",
        when=lambda a: "OVEHOSTED_STORAGE/path" not in a,  # an answer file naming a path means dir
    ),
    Question(
        "OVEHOSTED_STORAGE/storageDomainConnection",
        "storage",
        "Storage connection (server:/path for NFS, host:/volume for GlusterFS)",
        "str",
        storage_connection.validate_connection,
        when=storage_connection.is_remote,
    ),
    Question(
        "OVEHOSTED_STORAGE/vfsType",
        "storage",
        "File system type (posixfs)",
        "str",
        v.text,
        when=lambda a: storage_connection.domain_type(a) == "posixfs",
    ),
    Question(
        "OVEHOSTED_STORAGE/nfsVersion",
        "storage",
        "NFS version (auto, 3, 4, 4.0, 4.1, 4.2)",
        "str",
        v.choice("auto", "3", "4", "4.0", "4.1", "4.2"),
        "auto",
        when=lambda a: storage_connection.domain_type(a) == "nfs",
    ),
    Question(
        "OVEHOSTED_STORAGE/mntOptions",
        "storage",
        "Mount options (e.g. backup-volfile-servers=h2:h3)",
        "str",
        storage_connection.validate_options,
        when=storage_connection.is_remote,
        optional=True,
    ),
    Question(
        "OVEHOSTED_STORAGE/path",
        "storage",
        "Storage domain path (any directory every host sees)",
        "str",
        v.storage_path,
        when=lambda a: not storage_connection.is_remote(a),
    ),
    Question(
        "OVEHOSTED_STORAGE/ioTimeout", "storage", "sanlock io_timeout in seconds", "int", v.int_range(1, 60, " s"), 10
    ),
    Question(
        "OVEHOSTED_NETWORK/networkTest",
        "network",
        "Network test (ping, dns, tcp, none)",
        "str",
        v.choice(*config.NETWORK_TESTS),
        "ping",
    ),
    Question(
        "OVEHOSTED_NETWORK/gateway", "network", "Gateway address", "str", v.gateway, lambda a: machine.default_gateway()
    ),
    Question(
        "OVEHOSTED_NETWORK/networkTestTarget",
        "network",
        "Address the network test reaches",
        "str",
        v.test_target,
        lambda a: a.get("OVEHOSTED_NETWORK/gateway"),
        when=lambda a: a.get("OVEHOSTED_NETWORK/networkTest") in ("dns", "tcp"),
    ),
    Question(
        "OVEHOSTED_NETWORK/networkTestPort",
        "network",
        "TCP port the network test connects to",
        "int",
        v.test_port,
        80,
        when=lambda a: a.get("OVEHOSTED_NETWORK/networkTest") == "tcp",
    ),
    Question("OVEHOSTED_NETWORK/bridgeName", "network", "Management bridge", "str", v.bridge, constants.DEFAULT_BRIDGE),
    Question("OVEHOSTED_VM/applianceImage", "vm", "Engine appliance disk image", "str", v.appliance),
    Question(
        "OVEHOSTED_VM/vcpus",
        "vm",
        "Engine VM vCPUs",
        "int",
        v.vcpus,
        lambda a: min(4, machine.cpu_count()),
    ),
    Question("OVEHOSTED_VM/memMiB", "vm", "Engine VM memory in MiB", "int", v.memory, 4096),
    Question("OVEHOSTED_VM/diskSizeGiB", "vm", "Engine VM disk size in GiB", "int", v.disk_size, 50),
    Question("OVEHOSTED_VM/mac", "vm", "Engine VM MAC address", "str", v.mac, lambda a: machine.random_mac()),
    Question("OVEHOSTED_VM/fqdn", "vm", "Engine VM FQDN or IP address", "str", v.fqdn),
    Question(
        "OVEHOSTED_VM/cloudInit",
        "vm",
        "Configure the Engine VM with cloud-init (a NoCloud seed CD)",
        "bool",
        v.boolean,
        True,
    ),
    Question(
        "OVEHOSTED_VM/cloudinitNetwork",
        "vm",
        "Engine VM network (dhcp, static)",
        "str",
        v.choice("dhcp", "static"),
        _network_default,
        when=_cloud_init,
    ),
    Question(
        "OVEHOSTED_VM/cloudinitVMStaticCIDR",
        "vm",
        "Engine VM address/prefix",
        "str",
        v.static_address,
        _address_default,
        when=_static,
    ),
    Question(
        "OVEHOSTED_VM/cloudinitVMDNS",
        "vm",
        "Engine VM DNS servers (comma separated; empty: none)",
        "str",
        v.addresses,
        lambda a: ",".join(machine.nameservers()) or None,
        when=_static,
        optional=True,
    ),
    Question(
        "OVEHOSTED_VM/rootPassword",
        "vm",
        "Engine VM root password (empty: none)",
        "str",
        v.root_password,
        when=_cloud_init,
        optional=True,
        secret=True,
    ),
    Question(
        "OVEHOSTED_VM/rootSshPubkey",
        "vm",
        "Engine VM root ssh public key (empty: none)",
        "str",
        v.ssh_key,
        when=_cloud_init,
        optional=True,
    ),
    Question(
        "OVEHOSTED_VM/setupScript",
        "vm",
        "Script the Engine VM runs once at first boot (empty: none)",
        "str",
        v.file,
        when=_cloud_init,
        optional=True,
    ),
    Question(
        "OVEHOSTED_VM/healthUrl",
        "vm",
        "Engine health page",
        "str",
        v.url,
        _health_url,
    ),
    # Direct kernel boot of an appliance without a boot loader (the lab's): answer file only, never asked.
    Question("OVEHOSTED_VM/kernel", "vm", "Appliance kernel (direct boot)", "str", v.file, when=_given("VM/kernel")),
    Question("OVEHOSTED_VM/initrd", "vm", "Appliance initrd (direct boot)", "str", v.file, when=_given("VM/initrd")),
    Question("OVEHOSTED_VM/cmdline", "vm", "Appliance kernel command line", "str", v.text, when=_given("VM/cmdline")),
    Question(
        "OVEHOSTED_HA/priority",
        "ha",
        "This host's priority (ties among equal scores)",
        "int",
        v.int_range(-1000, 1000),
        0,
    ),
    Question(
        "OVEHOSTED_HA/spareHosts",
        "ha",
        "Hosts keeping the Engine VM's RAM free for a failover",
        "int",
        v.int_range(0, 2),
        1,
    ),
    Question(
        "OVEHOSTED_NOTIF/smtpServer",
        "notifications",
        "SMTP server for alerts (empty: none)",
        "str",
        v.host,
        optional=True,
    ),
    Question("OVEHOSTED_NOTIF/smtpPort", "notifications", "SMTP port", "int", v.int_range(1, 65535), 25, when=_smtp),
    Question(
        "OVEHOSTED_NOTIF/sourceEmail",
        "notifications",
        "Alert sender address",
        "str",
        v.email,
        "root@localhost.localdomain",
        when=_smtp,
    ),
    Question(
        "OVEHOSTED_NOTIF/destEmails",
        "notifications",
        "Alert recipients (comma separated)",
        "str",
        v.emails,
        "root@localhost.localdomain",
        when=_smtp,
    ),
)
BY_KEY = {q.key: q for q in QUESTIONS}
TYPES = ("str", "int", "bool", "none")


DEFAULT_CONTEXT = Context()


def validate(question: Question, value: Any, answers: Answers, context: Context = DEFAULT_CONTEXT) -> Any:
    """The normalised answer, or ValueError with the reason."""
    if question.optional and (value is None or str(value).strip() == ""):
        return None
    if value is None:
        raise ValueError("an answer is required")
    if question.type == "bool":
        return v.boolean(value, answers, context)
    return question.validate(value, answers, context)
