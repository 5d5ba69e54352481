"""Local configuration: `hosted-engine.conf` (key=value) and `agent.conf` (`[score]` section).

One declarative schema per file. Loading reports every problem at once, each as
`file:line: key: 'value': reason` (ConfigError); nothing is half-loaded. Key names are oVirt's where
the concept is the same (`host_id`, `sdUUID`, `gateway`, `bridge`, `vmid`, `network_test`, ...), so an
admin coming from oVirt recognises them; keys of our own are lowercase with underscores.

Every path the product uses is a key here, so several simulated hosts can share one machine (the lab)
by giving each its own files.
"""

from __future__ import annotations

import ipaddress
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import ConfigError, ConfigProblem
from vdsm_hosted_engine.storage.connection import DEFAULT_MOUNT_ROOT, NFS_VERSIONS, StorageConnection

HOSTED_ENGINE_CONF = os.path.join(constants.DEFAULT_CONF_DIR, "hosted-engine.conf")
AGENT_CONF = os.path.join(constants.DEFAULT_HA_CONF_DIR, "agent.conf")

NETWORK_TESTS = ("ping", "dns", "tcp", "none")
DOMAIN_TYPES = ("dir", "nfs", "glusterfs", "posixfs")  # storage/connection.py's

_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)

_REQUIRED = object()


# -- value parsers: str -> value, ValueError with a reason on bad input ------------------------------


def parse_int(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise ValueError("not an integer") from None
        if low is not None and value < low:
            raise ValueError(f"must be >= {low}")
        if high is not None and value > high:
            raise ValueError(f"must be <= {high}")
        return value

    return parse


def parse_float(low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        if low is not None and value < low:
            raise ValueError(f"must be >= {low}")
        if high is not None and value > high:
            raise ValueError(f"must be <= {high}")
        return value

    return parse


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a boolean (true/false)")


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return text

    return parse


def parse_uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError("not a UUID") from None


def parse_abspath(text: str) -> str:
    if not text.startswith("/"):
        raise ValueError("must be an absolute path")
    if "\0" in text:
        raise ValueError("contains a NUL byte")
    return os.path.normpath(text)


def parse_storage(text: str) -> str:
    """A local path (domainType=dir) or a remote spec; checked against domainType by `StorageConnection`."""
    if text.startswith("/"):
        return parse_abspath(text)
    if ":" not in text:
        raise ValueError("must be an absolute path or server:/path")
    return text


def parse_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError("not an IP address") from None


def parse_host(text: str) -> str:
    """An IP address or a DNS name (no resolution here: loading never touches the network)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not _HOSTNAME.match(text):
        raise ValueError("not an IP address or a valid host name")
    return text.lower()


def parse_ifname(text: str) -> str:
    if not _IFNAME.match(text):
        raise ValueError("not a network interface name (1-15 of A-Z a-z 0-9 _ . : -)")
    return text


def parse_cgroup(text: str) -> str:
    name = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", name) or ".." in name.split("/"):
        raise ValueError("not a cgroup name (letters, digits, . _ - and / between parts)")
    return name


def parse_uri_template(text: str) -> str:
    template = text.strip()
    if "{host}" not in template or "://" not in template:
        raise ValueError("must be a URI with {host} where the destination's hostname goes")
    return template


def parse_http_url(text: str) -> str:
    if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", text) or not text.isprintable():
        raise ValueError("must be an http:// or https:// URL")
    return text


def parse_names(text: str) -> str:
    """Comma-separated names (certificate common names), normalised to `a,b`."""
    names = [name.strip() for name in text.split(",")]
    if not all(names) or not all(name.isprintable() for name in names):
        raise ValueError("must be names separated by commas")
    return ",".join(names)


def parse_text(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


# -- schema ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One configuration key: its name in the file, the dataclass field it fills, parser, default."""

    name: str
    attr: str
    parse: Callable[[str], Any]
    default: Any = _REQUIRED
    help: str = ""


def _key(name: str, parse: Callable[[str], Any], default: Any = _REQUIRED, help: str = "", attr: str = "") -> Key:
    return Key(name, attr or name, parse, default, help)


HOST_KEYS: tuple[Key, ...] = (
    _key("host_id", parse_int(1, constants.MAX_HOST_ID), help="this host's id in the lockspace and whiteboard"),
    _key("storage", parse_storage, help="the storage connection: server:/path, host:/volume or a directory (dir)"),
    _key("sdUUID", parse_uuid, None, "the storage domain's UUID (checked against the domain)", attr="sd_uuid"),
    _key("domainType", parse_choice(*DOMAIN_TYPES), "dir", "how the domain is mounted", attr="domain_type"),
    _key("mnt_options", parse_text, None, "extra mount options, e.g. backup-volfile-servers=h2:h3"),
    _key("nfs_version", parse_choice(*NFS_VERSIONS), None, "NFS protocol version (default: negotiated)"),
    _key("vfs_type", parse_text, None, "file system type of a posixfs domain"),
    _key("mnt_root", parse_abspath, None, f"where connections are mounted (default {DEFAULT_MOUNT_ROOT})"),
    # Required: the lease hook injects the Engine VM's lease only into the domxml with this uuid.
    _key("vmid", parse_uuid, help="the Engine VM's UUID"),
    _key("fqdn", parse_host, None, "the Engine VM's FQDN or IP address"),
    _key("gateway", parse_ip, None, "address the network monitor tests"),
    _key("bridge", parse_ifname, constants.DEFAULT_BRIDGE, "the management bridge"),
    _key("network_test", parse_choice(*NETWORK_TESTS), "ping", "how the network monitor tests the gateway"),
    _key("tcp_t_address", parse_host, None, "target of the tcp network test"),
    _key("tcp_t_port", parse_int(1, 65535), None, "port of the tcp network test"),
    _key("hostname", parse_host, None, "name published for this host (default: the system's)"),
    _key("priority", parse_int(-1000, 1000), 0, "tie-break among hosts of equal score; higher wins"),
    _key("spare_hosts", parse_int(0, 64), 1, "how many hosts keep the Engine VM's RAM free for a failover"),
    _key("libvirt_uri", parse_text, "qemu:///system", "libvirt connection URI"),
    _key("sanlock_run_dir", parse_abspath, None, "sanlock daemon's run directory (SANLOCK_RUN_DIR)"),
    _key("run_dir", parse_abspath, "/run/vdsm-hosted-engine", "daemon socket and state"),
    _key("hooks_dir", parse_abspath, "/usr/libexec/vdsm/hooks", "VDSM hook directories"),
    _key("vm_conf", parse_abspath, "/etc/ovirt-hosted-engine/vm.conf", "the Engine VM's configuration (vm.conf)"),
    _key("health_url", parse_http_url, None, "the Engine's health page (default: from fqdn)"),
    _key("tick", parse_float(0.1, 60.0), 5.0, "agent cycle in seconds"),
    _key("rpc_listen", parse_choice("none", "tls", "plain"), "none", "TCP listener besides the Unix socket"),
    _key("rpc_address", parse_ip, "127.0.0.1", "TCP listener address (plain: loopback only)"),
    _key("rpc_port", parse_int(1, 65535), 54322, "TCP listener port"),
    _key(
        "rpc_allowed_subjects",
        parse_names,
        None,
        "TLS client certificate common names (the Engine's, the hosts') that may call verbs changing "
        "something; others from VDSM's CA may only read (default: any certificate from the CA, as VDSM)",
    ),
    _key(
        "host_cgroup",
        parse_cgroup,
        None,
        "a v1 cgroup name whose CPU and memory are this host's (a host in a container or slice; the lab)",
    ),
    _key(
        "migration_uri",
        parse_uri_template,
        "qemu+tls://{host}/system",
        "libvirt URI of a live migration's destination ({host}: its published hostname)",
    ),
    _key(
        "migration_data_uri",
        parse_uri_template,
        None,
        "where the migration stream goes, e.g. tcp://{host}-mig (a separate migration network)",
    ),
    _key(
        "migration_unsafe",
        parse_bool,
        False,
        "skip libvirt's shared-storage check, which knows NFS/GlusterFS/... but not every shared file "
        "system (the lab's FUSE view); the domain identity and lease check still run",
    ),
    _key(
        "pki_dir", parse_abspath, "/etc/pki/vdsm", "VDSM's PKI: certs/vdsmcert.pem, keys/vdsmkey.pem, certs/cacert.pem"
    ),
    _key(
        "smtp_password_file",
        parse_abspath,
        "/etc/ovirt-hosted-engine/smtp-password",
        "the SMTP password for he.smtpUser (first line; root-only, mode 0600)",
    ),
    _key("smtp_ca_file", parse_abspath, None, "CA certificates the SMTP server's is checked against (default: system)"),
    _key(
        "metrics_address",
        parse_ip,
        "127.0.0.1",
        "Prometheus metrics listener address (any other than loopback: TLS with the host's VDSM certificate)",
    ),
    _key("metrics_port", parse_int(0, 65535), 9731, "Prometheus metrics listener port (0: no listener)"),
    _key("metrics_textfile", parse_abspath, None, "also write the metrics here for node_exporter's textfile collector"),
)

SCORE_KEYS: tuple[Key, ...] = (
    _key("base-score", parse_int(1, 100000), 3400, attr="base"),
    _key("gateway-score-penalty", parse_int(0, 100000), 1600, attr="gateway_penalty"),
    _key("not-uptodate-config-penalty", parse_int(0, 100000), 1000, attr="config_outdated_penalty"),
    _key("mgmt-bridge-score-penalty", parse_int(0, 100000), 600, attr="bridge_penalty"),
    _key("free-memory-score-penalty", parse_int(0, 100000), 400, attr="memory_penalty"),
    _key("cpu-load-score-penalty", parse_int(0, 100000), 1000, attr="cpu_penalty"),
    _key("engine-retry-score-penalty", parse_int(0, 100000), 50, attr="retry_penalty"),
    _key("cpu-load-penalty-min", parse_float(0.0, 1.0), 0.4, attr="cpu_load_min"),
    _key("cpu-load-penalty-max", parse_float(0.0, 1.0), 0.9, attr="cpu_load_max"),
)

# What `setSharedConfig type=he_local` may change: nothing that runs code (hooks_dir, libvirt and
# migration URIs, vm_conf), widens access (rpc_*, pki_dir, migration_unsafe) or points the host at other
# storage, another VM or another host id.
LOCAL_WRITABLE_KEYS = frozenset(
    {"fqdn", "gateway", "bridge", "network_test", "tcp_t_address", "tcp_t_port", "hostname", "priority", "tick"}
)


@dataclass(frozen=True)
class HostConfig:
    """This host's `hosted-engine.conf`."""

    host_id: int
    storage: str
    sd_uuid: str | None = None
    domain_type: str = "dir"
    vmid: str | None = None  # required in the file (HOST_KEYS); the default serves only the dataclass order
    fqdn: str | None = None
    gateway: str | None = None
    bridge: str = constants.DEFAULT_BRIDGE
    network_test: str = "ping"
    tcp_t_address: str | None = None
    tcp_t_port: int | None = None
    hostname: str | None = None
    priority: int = 0
    libvirt_uri: str = "qemu:///system"
    sanlock_run_dir: str | None = None
    run_dir: str = "/run/vdsm-hosted-engine"
    hooks_dir: str = "/usr/libexec/vdsm/hooks"
    vm_conf: str = "/etc/ovirt-hosted-engine/vm.conf"
    health_url: str | None = None
    tick: float = 5.0
    rpc_listen: str = "none"
    rpc_address: str = "127.0.0.1"
    rpc_port: int = 54322
    rpc_allowed_subjects: str | None = None  # comma-separated common names
    spare_hosts: int = 1
    host_cgroup: str | None = None
    migration_uri: str = "qemu+tls://{host}/system"
    migration_data_uri: str | None = None
    migration_unsafe: bool = False
    pki_dir: str = "/etc/pki/vdsm"
    smtp_password_file: str = "/etc/ovirt-hosted-engine/smtp-password"
    smtp_ca_file: str | None = None
    metrics_address: str = "127.0.0.1"
    metrics_port: int = 9731
    metrics_textfile: str | None = None
    mnt_options: str | None = None
    nfs_version: str | None = None
    vfs_type: str | None = None
    mnt_root: str | None = None
    source: str = field(default="", compare=False)

    @property
    def connection(self) -> StorageConnection:
        """The storage connection (validated when the file was loaded)."""
        return StorageConnection.parse(
            self.domain_type, self.storage, self.mnt_options or "", self.nfs_version or "auto", self.vfs_type
        )

    @property
    def mount_root(self) -> str:
        return self.mnt_root or DEFAULT_MOUNT_ROOT

    @property
    def domain_path(self) -> str:
        """The storage domain directory: `storage=` for dir, else the connection's mount point."""
        return self.connection.domain_path(self.mount_root)


@dataclass(frozen=True)
class ScoreConfig:
    """`agent.conf [score]`: oVirt's score weights and their defaults."""

    base: int = 3400
    gateway_penalty: int = 1600
    config_outdated_penalty: int = 1000
    bridge_penalty: int = 600
    memory_penalty: int = 400
    cpu_penalty: int = 1000
    retry_penalty: int = 50
    cpu_load_min: float = 0.4
    cpu_load_max: float = 0.9


# `agent.conf [timeouts]`: names of ha.fsm.Timeouts fields (defaults live there); the lab shortens them.
TIMEOUT_KEYS: tuple[Key, ...] = (
    _key("engine-bad-health-timeout", parse_float(1.0, 86400.0), None, attr="health"),
    _key("engine-stop-timeout", parse_float(1.0, 86400.0), None, attr="stop"),
    _key("engine-starting-timeout", parse_float(1.0, 86400.0), None, attr="starting"),
    _key("restart-window", parse_float(1.0, 86400.0), None, attr="restart_window"),
    _key("local-restarts", parse_int(0, 100), None, attr="local_restarts"),
    _key("backoff", parse_float(0.0, 86400.0), None, attr="backoff"),
    _key("health-alert-window", parse_float(1.0, 86400.0), None, attr="health_alert_window"),
    _key("handover-hold", parse_float(0.0, 3600.0), None, attr="handover_hold"),
    _key("vm-start-timeout", parse_float(1.0, 86400.0), None, attr="start"),
)


@dataclass(frozen=True)
class AgentSettings:
    """`agent.conf`: the score weights, and the state machine timeouts that were overridden."""

    score: ScoreConfig
    timeouts: dict[str, float]


# -- reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    section: str
    key: str
    value: str
    line: int


def _entries(path: str, text: str, problems: list[ConfigProblem], sections: bool) -> Iterator[_Entry]:
    """Yield key=value entries; malformed lines become problems (and are skipped)."""
    section = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            if sections and line.endswith("]") and len(line) > 2:
                section = line[1:-1].strip()
            else:
                problems.append(ConfigProblem(path, number, line, "unexpected section header"))
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(ConfigProblem(path, number, line[:40], "not a key=value line"))
            continue
        yield _Entry(section, key, value.strip(), number)


def _fill(
    path: str, entries: Iterator[_Entry], schema: tuple[Key, ...], problems: list[ConfigProblem]
) -> dict[str, Any]:
    by_name = {k.name: k for k in schema}
    seen: dict[str, int] = {}
    values: dict[str, Any] = {}
    for entry in entries:
        key = by_name.get(entry.key)
        if key is None:
            problems.append(ConfigProblem(path, entry.line, entry.key, "unknown key"))
            continue
        if entry.key in seen:
            problems.append(
                ConfigProblem(path, entry.line, entry.key, f"duplicate key (first on line {seen[entry.key]})")
            )
            continue
        seen[entry.key] = entry.line
        try:
            values[key.attr] = key.parse(entry.value)
        except ValueError as e:
            problems.append(ConfigProblem(path, entry.line, entry.key, str(e), entry.value))
    for key in schema:
        if key.attr not in values and key.name not in seen and key.default is _REQUIRED:
            problems.append(ConfigProblem(path, 0, key.name, "required key is missing"))
    return values


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(path, 0, "-", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([ConfigProblem(path, 0, "-", f"cannot read: {e}")]) from None


def parse_host_config(text: str, path: str = "<string>") -> HostConfig:
    problems: list[ConfigProblem] = []
    values = _fill(path, _entries(path, text, problems, sections=False), HOST_KEYS, problems)
    if values.get("network_test") == "tcp" and (
        values.get("tcp_t_address") is None or values.get("tcp_t_port") is None
    ):
        problems.append(ConfigProblem(path, 0, "network_test", "tcp needs tcp_t_address and tcp_t_port", "tcp"))
    address = values.get("rpc_address")
    if values.get("rpc_listen") == "plain" and address and not ipaddress.ip_address(address).is_loopback:
        problems.append(
            ConfigProblem(path, 0, "rpc_address", "rpc_listen=plain (no TLS) needs a loopback address", address)
        )
    if "storage" in values:
        try:
            StorageConnection.parse(
                values.get("domain_type", "dir"),
                values["storage"],
                values.get("mnt_options") or "",
                values.get("nfs_version") or "auto",
                values.get("vfs_type"),
            )
        except ValueError as e:
            problems.append(ConfigProblem(path, 0, "storage", str(e), values["storage"]))
    if problems:
        raise ConfigError(problems)
    return HostConfig(**values, source=path)


def load_host_config(path: str = HOSTED_ENGINE_CONF) -> HostConfig:
    """Read `hosted-engine.conf`; raises ConfigError listing every problem."""
    return parse_host_config(_read(path), path)


def parse_agent_config(text: str, path: str = "<string>") -> AgentSettings:
    """`agent.conf`: `[score]` weights and `[timeouts]` overrides; every problem reported at once."""
    problems: list[ConfigProblem] = []
    sections: dict[str, list[_Entry]] = {"score": [], "timeouts": []}
    for entry in _entries(path, text, problems, sections=True):
        if entry.section in sections:
            sections[entry.section].append(entry)
        else:
            where = f"[{entry.section}]" if entry.section else "outside any section"
            problems.append(ConfigProblem(path, entry.line, entry.key, f"unknown key {where}"))
    values = _fill(path, iter(sections["score"]), SCORE_KEYS, problems)
    low = values.get("cpu_load_min", ScoreConfig.cpu_load_min)
    high = values.get("cpu_load_max", ScoreConfig.cpu_load_max)
    if low >= high:
        problems.append(
            ConfigProblem(path, 0, "cpu-load-penalty-min", f"must be below cpu-load-penalty-max ({high})", str(low))
        )
    timeouts = _fill(path, iter(sections["timeouts"]), TIMEOUT_KEYS, problems)
    if problems:
        raise ConfigError(problems)
    return AgentSettings(ScoreConfig(**values), timeouts)


def load_agent_config(path: str = AGENT_CONF) -> AgentSettings:
    """Read `agent.conf`; a missing file means oVirt's defaults."""
    if not os.path.exists(path):
        return AgentSettings(ScoreConfig(), {})
    return parse_agent_config(_read(path), path)


def render_host_config(config: HostConfig) -> str:
    """The file text for `config`: keys in schema order, unset optional keys left out."""
    lines = []
    for key in HOST_KEYS:
        value = getattr(config, key.attr)
        if value is None:
            continue
        lines.append(f"{key.name}={value}")
    return "\n".join(lines) + "\n"
