"""The deploy answers' validators: each takes (value, answers so far, context) and returns the
normalised value or raises ValueError with one sentence that names what it refuses.

A validator runs the check its answer needs where the answer is given (the gateway is pinged at its
question, the appliance is read by qemu-img at its question), so a problem is caught while the user
can still fix that one answer. Validators only read the machine; nothing here changes anything.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vdsm_hosted_engine import config
from vdsm_hosted_engine.broker.monitors.network import NetworkMonitor
from vdsm_hosted_engine.deploy import machine
from vdsm_hosted_engine.storage import shared_keys

Answers = Mapping[str, Any]
MEMORY_MARGIN_MIB = 512  # kept for this host's own processes
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
# Disk image formats qemu-img recognises by their header: a VM disk whatever its content.
IMAGE_FORMATS = frozenset({"qcow2", "qcow", "vmdk", "vdi", "vhdx", "vpc", "qed"})


@dataclass(frozen=True)
class Context:
    """What validation depends on besides the answers: the options deploy was started with.

    `allow_local_storage`: a storage path on a local or memory filesystem is accepted (a
    single-machine lab or a test: other hosts cannot see it on a real cluster).
    `domain_type`: with libvirt's test driver (`test`) no NIC is plugged into the bridge, so it is not
    checked to be a bridge.
    """

    allow_local_storage: bool = False
    domain_type: str = "kvm"


Validator = Callable[[Any, Answers, Context], Any]


def text(value: Any, answers: Answers, context: Context) -> str:
    result = str(value).strip()
    if not result:
        raise ValueError("the answer must not be empty")
    return result


def int_range(low: int, high: int | Callable[[], int], unit: str = "") -> Validator:
    def check(value: Any, answers: Answers, context: Context) -> int:
        try:
            number = int(str(value).strip(), 10)
        except ValueError:
            raise ValueError(f"{str(value).strip()!r} is not a whole number") from None
        top = high() if callable(high) else high
        if not low <= number <= top:
            raise ValueError(f"{number}{unit} is out of range: must be between {low} and {top}")
        return number

    return check


def choice(*choices: str) -> Validator:
    def check(value: Any, answers: Answers, context: Context) -> str:
        result = str(value).strip().lower()
        if result not in choices:
            raise ValueError(f"{result!r} is not one of " + ", ".join(choices))
        return result

    return check


def boolean(value: Any, answers: Answers, context: Context) -> bool:
    if isinstance(value, bool):
        return value
    result = str(value).strip().lower()
    if result in ("yes", "y", "true", "1"):
        return True
    if result in ("no", "n", "false", "0"):
        return False
    raise ValueError(f"{result!r}: answer yes or no")


def ip(value: Any, answers: Answers, context: Context) -> str:
    given = str(value).strip()
    try:
        return str(ipaddress.ip_address(given))
    except ValueError:
        raise ValueError(f"{given!r} is not an IP address") from None


def host(value: Any, answers: Answers, context: Context) -> str:
    given = str(value).strip()
    try:
        return config.parse_host(given)
    except ValueError as e:
        raise ValueError(f"{given!r} is {e}") from None


def ifname(value: Any, answers: Answers, context: Context) -> str:
    given = str(value).strip()
    try:
        return config.parse_ifname(given)
    except ValueError as e:
        raise ValueError(f"{given!r} is {e}") from None


# -- storage ---------------------------------------------------------------------------------------


def storage_path(value: Any, answers: Answers, context: Context) -> str:
    """An existing writable directory on a filesystem every host can see (NFS, GlusterFS...)."""
    path = text(value, answers, context)
    if not os.path.isabs(path):
        raise ValueError(f"{path} is not an absolute path")
    if not os.path.isdir(path):
        raise ValueError(f"{path} does not exist or is not a directory")
    fstype = machine.filesystem_type(path) or "unknown"
    if fstype in machine.PSEUDO_FILESYSTEMS:
        raise ValueError(f"{path} is on {fstype}, a kernel pseudo-filesystem: it cannot hold a storage domain")
    if fstype not in machine.SHARED_FILESYSTEMS and not context.allow_local_storage:
        kind = "memory" if fstype in machine.MEMORY_FILESYSTEMS else "local"
        raise ValueError(
            f"{path} is on {fstype}, a {kind} filesystem other hosts cannot see: give an NFS or GlusterFS "
            "mount (or deploy with --allow-local-storage for a single-machine lab)"
        )
    if not os.access(path, os.W_OK):
        raise ValueError(f"{path} is not writable")
    return os.path.normpath(path)


# -- network ---------------------------------------------------------------------------------------


def _reachable(test: str, target: str, port: int | None, what: str) -> None:
    if NetworkMonitor(test, target, port, probes=1, timeout=3).probe() == 0:
        raise ValueError(f"{what} {target} does not answer the {test} test")


def gateway(value: Any, answers: Answers, context: Context) -> str:
    """An IP address; pinged here when the network test is ping (oVirt pings it at the question)."""
    address = ip(value, answers, context)
    if answers.get("OVEHOSTED_NETWORK/networkTest") == "ping":
        _reachable("ping", address, None, "the gateway")
    return address


def test_target(value: Any, answers: Answers, context: Context) -> str:
    target = host(value, answers, context)
    if answers.get("OVEHOSTED_NETWORK/networkTest") == "dns":
        _reachable("dns", target, None, "the network test target")
    return target


def test_port(value: Any, answers: Answers, context: Context) -> int:
    port = int_range(1, 65535)(value, answers, context)
    target = answers.get("OVEHOSTED_NETWORK/networkTestTarget")
    if answers.get("OVEHOSTED_NETWORK/networkTest") == "tcp" and target:
        _reachable("tcp", target, port, f"port {port} of")
    return port


def bridge(value: Any, answers: Answers, context: Context, sys_class_net: str = "/sys/class/net") -> str:
    """A Linux bridge on this host: the Engine VM's NIC is plugged into it."""
    name = ifname(value, answers, context)
    if context.domain_type == "test":
        return name
    device = os.path.join(sys_class_net, name)
    if not os.path.exists(device):
        raise ValueError(f"{name} does not exist on this host: create the bridge over the management NIC first")
    if not os.path.isdir(os.path.join(device, "bridge")):
        raise ValueError(
            f"{name} is a network port, not a bridge: create a bridge over it (ip link add NAME type bridge; "
            f"ip link set {name} master NAME) and give the bridge's name"
        )
    return name


# -- the VM ----------------------------------------------------------------------------------------


def image_info(path: str) -> dict[str, Any]:
    """qemu-img's view of an image, or ValueError saying why it is not one."""
    try:
        result = subprocess.run(
            ["qemu-img", "info", "--output=json", path], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ValueError(f"qemu-img cannot read {path}: {e}") from None
    if result.returncode != 0:
        raise ValueError(f"qemu-img cannot read {path}: {result.stderr.strip()}")
    return json.loads(result.stdout)


def _raw_is_disk(path: str) -> bool:
    """A partition table (MBR or GPT) or a whole-disk filesystem (ext2/3/4, XFS) at its start."""
    with open(path, "rb") as f:
        head = f.read(2048)
    return (
        head[510:512] == b"\x55\xaa"
        or head[512:520] == b"EFI PART"
        or head[1080:1082] == b"\x53\xef"
        or head[:4] == b"XFSB"
    )


def _is_ova(path: str) -> bool:
    """A tar archive holding an OVF descriptor (an all-zero disk also reads as an empty tar)."""
    try:
        with tarfile.open(path) as tar:
            return any(member.name.endswith(".ovf") for member in tar.getmembers())
    except (tarfile.TarError, OSError):
        return False


def appliance(value: Any, answers: Answers, context: Context) -> str:
    path = text(value, answers, context)
    if not os.path.isabs(path) or not os.path.isfile(path):
        raise ValueError(f"{path} is not an existing file (absolute path)")
    if _is_ova(path):
        raise ValueError(f"{path} is an OVA archive: extract its disk image (tar xf) and give that")
    info = image_info(path)
    if info.get("format") not in IMAGE_FORMATS and not (info.get("format") == "raw" and _raw_is_disk(path)):
        raise ValueError(
            f"{path} is not a VM disk image: qemu-img reads it as {info.get('format')} and it has no partition "
            f"table ({os.path.getsize(path)} bytes)"
        )
    return path


def disk_size(value: Any, answers: Answers, context: Context) -> int:
    """GiB: at least the appliance's virtual size, and free on the storage."""
    size = int_range(1, 65536, " GiB")(value, answers, context)
    image = answers.get("OVEHOSTED_VM/applianceImage")
    if image:
        needed = math.ceil(image_info(image)["virtual-size"] / 1024**3)
        if size < needed:
            raise ValueError(f"{size} GiB is smaller than the appliance's virtual size ({needed} GiB)")
    storage = answers.get("OVEHOSTED_STORAGE/path")
    if storage:
        free = shutil.disk_usage(storage).free // 1024**3
        if size > free:
            raise ValueError(f"{size} GiB is more than the {free} GiB free on {storage}")
    return size


def vcpus(value: Any, answers: Answers, context: Context) -> int:
    number = int_range(1, 4096)(value, answers, context)
    usable = machine.cpu_count()
    if number > usable:
        raise ValueError(f"{number} vCPUs are more than this host can give ({usable} CPUs usable here)")
    return number


def memory(value: Any, answers: Answers, context: Context) -> int:
    number = int_range(128, 1024 * 1024, " MiB")(value, answers, context)
    available = machine.mem_available_mib()
    if available and number > available - MEMORY_MARGIN_MIB:
        raise ValueError(
            f"{number} MiB is more than this host can give ({available} MiB available, {MEMORY_MARGIN_MIB} kept)"
        )
    return number


def mac(value: Any, answers: Answers, context: Context) -> str:
    given = str(value).strip().lower()
    if not _MAC.match(given):
        raise ValueError(f"{given!r} is not a MAC address (xx:xx:xx:xx:xx:xx)")
    if int(given[:2], 16) & 1:
        raise ValueError(f"{given} is a multicast MAC address: a NIC needs a unicast one")
    return given


def fqdn(value: Any, answers: Answers, context: Context) -> str:
    """The Engine VM's name, which must resolve (the hosts reach its health page by it), or its IP."""
    name = host(value, answers, context)
    if name in (os.uname().nodename.lower(), "localhost"):
        raise ValueError(f"{name} is this host's own name: the Engine VM needs its own")
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        pass
    try:
        socket.getaddrinfo(name, None)
    except OSError as e:
        raise ValueError(
            f"{name} does not resolve ({e.strerror or e}): add it to DNS or /etc/hosts, or give the Engine VM's "
            "IP address"
        ) from None
    return name


def url(value: Any, answers: Answers, context: Context) -> str:
    given = text(value, answers, context)
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", given):
        raise ValueError(f"{given} is not an http:// or https:// URL")
    return given


def email(value: Any, answers: Answers, context: Context) -> str:
    """One address, as `he.sourceEmail` takes it (storage/shared_keys.py: one rule for both)."""
    text_ = str(value).strip()
    try:
        return shared_keys.parse_email(text_)
    except ValueError:
        raise ValueError(f"{text_!r} is not an e-mail address") from None


def emails(value: Any, answers: Answers, context: Context) -> str:
    """Addresses separated by commas, as `he.destEmails` takes them."""
    try:
        return ",".join(shared_keys.parse_emails(str(value)))
    except ValueError:
        raise ValueError(f"{str(value).strip()!r} is not one or more e-mail addresses, separated by commas") from None


def file(value: Any, answers: Answers, context: Context) -> str:
    path = text(value, answers, context)
    if not os.path.isabs(path) or not os.path.isfile(path):
        raise ValueError(f"{path} is not an existing file (absolute path)")
    return path


# -- cloud-init ------------------------------------------------------------------------------------

_CRYPT = re.compile(r"^\$(1|5|6|y|2[aby])\$[./A-Za-z0-9$]{8,}$")
_SSH_KEY = re.compile(r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-\S+)\s+[A-Za-z0-9+/]+=*(\s.*)?$")


def static_address(value: Any, answers: Answers, context: Context) -> str:
    """address/prefix of the Engine VM, in the same network as the gateway."""
    given = str(value).strip()
    try:
        interface = ipaddress.ip_interface(given)
    except ValueError:
        raise ValueError(f"{given!r} is not an address/prefix (e.g. 192.0.2.10/24)") from None
    if "/" not in given:
        raise ValueError(f"{given} has no prefix length: give it as address/prefix (e.g. {given}/24)")
    gateway_ = answers.get("OVEHOSTED_NETWORK/gateway")
    if gateway_ and ipaddress.ip_address(gateway_) not in interface.network:
        raise ValueError(f"the gateway {gateway_} is not in {interface.network}: the Engine VM could not reach it")
    return str(interface)


def addresses(value: Any, answers: Answers, context: Context) -> str:
    items = [x.strip() for x in str(value).replace(" ", ",").split(",") if x.strip()]
    for item in items:
        ip(item, answers, context)
    return ",".join(str(ipaddress.ip_address(x)) for x in items)


def root_password(value: Any, answers: Answers, context: Context) -> str:
    """A crypt hash as given, or the hash of a clear-text password (never kept in clear)."""
    from vdsm_hosted_engine.deploy.cloud_init import hash_password

    given = str(value)
    if _CRYPT.match(given.strip()):
        return given.strip()
    if len(given) < 6:
        raise ValueError("the root password is too short: at least 6 characters")
    return hash_password(given)


def ssh_key(value: Any, answers: Answers, context: Context) -> str:
    given = str(value).strip()
    if not _SSH_KEY.match(given):
        raise ValueError(f"{given[:40]!r} is not an ssh public key (ssh-ed25519 AAAA... comment)")
    return given
