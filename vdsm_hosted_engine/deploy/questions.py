"""The deploy questions: one list, one validator each, shared by every front end.

Keys follow oVirt's answer-file style (`OVEHOSTED_<GROUP>/<name>`), so an answer file reads like
oVirt's. A question has a type (str, int, bool), a default (a value, or a function of the answers so
far and the machine), an optional condition (asked only when it holds) and a validator that returns
the normalised value or raises ValueError with the reason shown to the user. Validators only read the
machine (paths, files); nothing here changes anything.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vdsm_hosted_engine import config, constants
from vdsm_hosted_engine.deploy import machine, storage_connection

Answers = Mapping[str, Any]
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_MAC = re.compile(r"^00:16:3e(:[0-9a-f]{2}){3}$")


@dataclass(frozen=True)
class Question:
    key: str
    group: str
    prompt: str
    type: str  # str | int | bool
    validate: Callable[[Any, Answers], Any]
    default: Any = None  # a value, or callable(answers) -> value
    when: Callable[[Answers], bool] | None = None
    optional: bool = False  # an empty answer means "not set"

    def default_for(self, answers: Answers) -> Any:
        return self.default(answers) if callable(self.default) else self.default

    def applies(self, answers: Answers) -> bool:
        return self.when is None or self.when(answers)


def _given(key: str) -> Callable[[Answers], bool]:
    """Asked never: applies only when an answer file already gave it."""
    return lambda answers: f"OVEHOSTED_{key}" in answers


# -- validators ------------------------------------------------------------------------------------


def _text(value: Any, answers: Answers) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _directory(value: Any, answers: Answers) -> str:
    path = _text(value, answers)
    if not os.path.isabs(path):
        raise ValueError("must be an absolute path")
    if not os.path.isdir(path):
        raise ValueError(f"{path} does not exist or is not a directory")
    if not os.access(path, os.W_OK):
        raise ValueError(f"{path} is not writable")
    return os.path.normpath(path)


def _file(value: Any, answers: Answers) -> str:
    path = _text(value, answers)
    if not os.path.isabs(path) or not os.path.isfile(path):
        raise ValueError(f"{path} is not an existing file (absolute path)")
    return path


def _int_range(low: int, high: int | Callable[[], int]) -> Callable[[Any, Answers], int]:
    def check(value: Any, answers: Answers) -> int:
        try:
            number = int(str(value).strip(), 10)
        except ValueError:
            raise ValueError("must be a whole number") from None
        top = high() if callable(high) else high
        if not low <= number <= top:
            raise ValueError(f"must be between {low} and {top}")
        return number

    return check


def _choice(*choices: str) -> Callable[[Any, Answers], str]:
    def check(value: Any, answers: Answers) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return text

    return check


def _ip(value: Any, answers: Answers) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ValueError("is not an IP address") from None


def _host(value: Any, answers: Answers) -> str:
    try:
        return config.parse_host(str(value).strip())
    except ValueError as e:
        raise ValueError(str(e)) from None


def _ifname(value: Any, answers: Answers) -> str:
    try:
        return config.parse_ifname(str(value).strip())
    except ValueError as e:
        raise ValueError(str(e)) from None


def _mac(value: Any, answers: Answers) -> str:
    text = str(value).strip().lower()
    if not _MAC.match(text):
        raise ValueError("must be a MAC address in the 00:16:3e:xx:xx:xx range")
    return text


def _memory(value: Any, answers: Answers) -> int:
    number = _int_range(128, 1024 * 1024)(value, answers)
    available = machine.mem_available_mib()
    if available and number > available - 512:
        raise ValueError(f"{number} MiB is more than this host can give ({available} MiB available, 512 kept)")
    return number


def _fqdn(value: Any, answers: Answers) -> str:
    host = _host(value, answers)
    if host in (os.uname().nodename.lower(), "localhost"):
        raise ValueError("must not be this host's own name: the Engine VM needs its own")
    return host


def _url(value: Any, answers: Answers) -> str:
    text = _text(value, answers)
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", text):
        raise ValueError("must be an http:// or https:// URL")
    return text


def _emails(value: Any, answers: Answers) -> str:
    items = [x.strip() for x in str(value).split(",") if x.strip()]
    if not items or not all(_EMAIL.match(x) for x in items):
        raise ValueError("must be one or more e-mail addresses, separated by commas")
    return ",".join(items)


def _bool(value: Any, answers: Answers) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("yes", "y", "true", "1"):
        return True
    if text in ("no", "n", "false", "0"):
        return False
    raise ValueError("answer yes or no")


# -- the questions ---------------------------------------------------------------------------------


def _smtp(answers: Answers) -> bool:
    return bool(answers.get("OVEHOSTED_NOTIF/smtpServer"))


QUESTIONS: tuple[Question, ...] = (
    Question(
        "OVEHOSTED_STORAGE/domainType",
        "storage",
        "Storage type (dir, nfs, glusterfs, posixfs)",
        "str",
        _choice(*config.DOMAIN_TYPES),
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
        _text,
        when=lambda a: storage_connection.domain_type(a) == "posixfs",
    ),
    Question(
        "OVEHOSTED_STORAGE/nfsVersion",
        "storage",
        "NFS version (auto, 3, 4, 4.0, 4.1, 4.2)",
        "str",
        _choice("auto", "3", "4", "4.0", "4.1", "4.2"),
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
        _directory,
        when=lambda a: not storage_connection.is_remote(a),
    ),
    Question("OVEHOSTED_STORAGE/ioTimeout", "storage", "sanlock io_timeout in seconds", "int", _int_range(1, 60), 10),
    Question(
        "OVEHOSTED_NETWORK/gateway", "network", "Gateway address", "str", _ip, lambda a: machine.default_gateway()
    ),
    Question(
        "OVEHOSTED_NETWORK/networkTest",
        "network",
        "Network test (ping, dns, tcp, none)",
        "str",
        _choice(*config.NETWORK_TESTS),
        "ping",
    ),
    Question(
        "OVEHOSTED_NETWORK/networkTestTarget",
        "network",
        "Address the network test reaches",
        "str",
        _host,
        lambda a: a.get("OVEHOSTED_NETWORK/gateway"),
        when=lambda a: a.get("OVEHOSTED_NETWORK/networkTest") in ("dns", "tcp"),
    ),
    Question(
        "OVEHOSTED_NETWORK/networkTestPort",
        "network",
        "TCP port the network test connects to",
        "int",
        _int_range(1, 65535),
        80,
        when=lambda a: a.get("OVEHOSTED_NETWORK/networkTest") == "tcp",
    ),
    Question("OVEHOSTED_NETWORK/bridgeName", "network", "Management bridge", "str", _ifname, constants.DEFAULT_BRIDGE),
    Question("OVEHOSTED_VM/applianceImage", "vm", "Engine appliance disk image", "str", _file),
    Question(
        "OVEHOSTED_VM/vcpus",
        "vm",
        "Engine VM vCPUs",
        "int",
        _int_range(1, machine.cpu_count),
        lambda a: min(4, machine.cpu_count()),
    ),
    Question("OVEHOSTED_VM/memMiB", "vm", "Engine VM memory in MiB", "int", _memory, 4096),
    Question("OVEHOSTED_VM/diskSizeGiB", "vm", "Engine VM disk size in GiB", "int", _int_range(1, 65536), 50),
    Question("OVEHOSTED_VM/mac", "vm", "Engine VM MAC address", "str", _mac, lambda a: machine.random_mac()),
    Question("OVEHOSTED_VM/fqdn", "vm", "Engine VM FQDN or IP address", "str", _fqdn),
    Question(
        "OVEHOSTED_VM/healthUrl",
        "vm",
        "Engine health page",
        "str",
        _url,
        lambda a: f"http://{a.get('OVEHOSTED_VM/fqdn')}/ovirt-engine/services/health",
    ),
    # Direct kernel boot of an appliance without a boot loader (the lab's): answer file only, never asked.
    Question("OVEHOSTED_VM/kernel", "vm", "Appliance kernel (direct boot)", "str", _file, when=_given("VM/kernel")),
    Question("OVEHOSTED_VM/initrd", "vm", "Appliance initrd (direct boot)", "str", _file, when=_given("VM/initrd")),
    Question("OVEHOSTED_VM/cmdline", "vm", "Appliance kernel command line", "str", _text, when=_given("VM/cmdline")),
    Question(
        "OVEHOSTED_HA/priority",
        "ha",
        "This host's priority (ties among equal scores)",
        "int",
        _int_range(-1000, 1000),
        0,
    ),
    Question(
        "OVEHOSTED_HA/spareHosts",
        "ha",
        "Hosts keeping the Engine VM's RAM free for a failover",
        "int",
        _int_range(0, 2),
        1,
    ),
    Question(
        "OVEHOSTED_NOTIF/smtpServer",
        "notifications",
        "SMTP server for alerts (empty: none)",
        "str",
        _host,
        optional=True,
    ),
    Question("OVEHOSTED_NOTIF/smtpPort", "notifications", "SMTP port", "int", _int_range(1, 65535), 25, when=_smtp),
    Question(
        "OVEHOSTED_NOTIF/sourceEmail",
        "notifications",
        "Alert sender address",
        "str",
        _emails,
        "root@localhost.localdomain",
        when=_smtp,
    ),
    Question(
        "OVEHOSTED_NOTIF/destEmails",
        "notifications",
        "Alert recipients (comma separated)",
        "str",
        _emails,
        "root@localhost.localdomain",
        when=_smtp,
    ),
)
BY_KEY = {q.key: q for q in QUESTIONS}
TYPES = ("str", "int", "bool", "none")


def validate(question: Question, value: Any, answers: Answers) -> Any:
    """The normalised answer, or ValueError with the reason."""
    if question.optional and (value is None or str(value).strip() == ""):
        return None
    if value is None:
        raise ValueError("an answer is required")
    if question.type == "bool":
        return _bool(value, answers)
    return question.validate(value, answers)
