"""A GlusterFS volume fit for the hosted-engine domain: its shape, its options, and the timing rule
between gluster's `network.ping-timeout` and sanlock's io_timeout.

The rule (measured in ../shared/gluster-prototype/FINDINGS.md). When one replica host is cut off,
gluster freezes I/O on the *healthy* hosts until the cut host's client connections time out: the
stall lasted ping-timeout plus 0.3 to 9 s (io 10/ping 10: 17-19 s; io 1/ping 10: 10-12 s; io 1/ping 3:
3.3-5.3 s). sanlock fails a host's renewals 8 x io_timeout after the last good one, so a stall that
long takes every host's lockspace with it: io 1/ping 10 lost the lockspace on both healthy hosts,
io 1/ping 3 survived with a warning at 7 of 8 s. The product requires

    ping-timeout + STALL_EXCESS <= 8 x io_timeout / SAFETY_FACTOR,  i.e.  ping-timeout <= 4 x io_timeout - 10

with STALL_EXCESS = 10 s (the worst excess measured, 9 s, rounded up) and SAFETY_FACTOR = 2: the
worst stall may use half of sanlock's renewal budget. io 10 allows ping-timeout up to 30 (the virt
group's 20 passes); io 5 allows 10 (the lab); io_timeout 3 or less cannot be made safe. ping-timeout 0
disables the ping, so a cut peer stalls I/O for the TCP timeout (minutes): refused.

Volume shape oVirt requires for the hosted-engine domain: replica 3 (or replica 3 arbiter 1) so one
host's loss keeps quorum, client quorum `auto` and server quorum `server`, the "virt" group's
options (strict O_DIRECT, remote-dio off, sharding, ...), owner 36:36 (vdsm:kvm) and a started volume.

`volume_problems` is pure (values in, sentences out); `read_volume` asks the gluster CLI.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass, field

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import StorageUnavailable

STALL_EXCESS = 10  # seconds a healthy host's I/O stalls beyond ping-timeout (worst measured: 9 s)
SAFETY_FACTOR = 2  # the worst stall may use 1/SAFETY_FACTOR of sanlock's renewal failure time
DEFAULT_PING_TIMEOUT = 42  # gluster's own default, when the volume does not set it
GLUSTER_TIMEOUT = 60.0  # seconds for one gluster CLI call (a lost peer makes it wait ~ping-timeout)

# The "virt" group options that matter to sanlock and VM disks, as Debian's glusterfs 10 ships them
# (/var/lib/glusterd/groups/virt). The other members tune performance and are not checked.
VIRT_OPTIONS: Mapping[str, str] = {
    "performance.strict-o-direct": "on",
    "network.remote-dio": "disable",
    "features.shard": "on",
    "cluster.quorum-type": "auto",
    "cluster.server-quorum-type": "server",
}
OWNER_UID = "36"  # vdsm
OWNER_GID = "36"  # kvm

_ON = {"on", "yes", "true", "enable", "1"}
_OFF = {"off", "no", "false", "disable", "0"}


def max_ping_timeout(io_timeout: int) -> int:
    """The largest safe `network.ping-timeout` for `io_timeout` (module docstring); < 1 when none is."""
    return constants.SANLOCK_RENEWAL_FAIL_FACTOR * io_timeout // SAFETY_FACTOR - STALL_EXCESS


def min_io_timeout(ping_timeout: int) -> int:
    """The smallest sanlock io_timeout that `ping_timeout` is safe with."""
    budget = (ping_timeout + STALL_EXCESS) * SAFETY_FACTOR
    return -(-budget // constants.SANLOCK_RENEWAL_FAIL_FACTOR)


def timing_problem(ping_timeout: int, io_timeout: int) -> str | None:
    """One sentence saying what to set when the pair is unsafe; None when it is safe."""
    limit = max_ping_timeout(io_timeout)
    fail = constants.SANLOCK_RENEWAL_FAIL_FACTOR * io_timeout
    if ping_timeout <= 0:
        return (
            "network.ping-timeout 0 disables gluster's ping, so a lost peer stalls every host's I/O for minutes: "
            f"set network.ping-timeout to at most {max(limit, 1)} (sanlock io_timeout {io_timeout})"
        )
    if ping_timeout <= limit:
        return None
    if limit < 1:
        return (
            f"sanlock io_timeout {io_timeout} is too short for any GlusterFS volume (one lost peer stalls the "
            f"others' I/O for ping-timeout + up to {STALL_EXCESS} s, and sanlock gives up after {fail} s): "
            f"set io_timeout to at least {min_io_timeout(ping_timeout)} for network.ping-timeout {ping_timeout}"
        )
    return (
        f"network.ping-timeout {ping_timeout} is unsafe with sanlock io_timeout {io_timeout}: one lost peer "
        f"stalls the other hosts' I/O for up to {ping_timeout + STALL_EXCESS} s, more than half of sanlock's "
        f"{fail} s renewal limit, and every host would lose its lockspace; set network.ping-timeout to at most "
        f"{limit} (gluster volume set VOLUME network.ping-timeout {limit}) or io_timeout to at least "
        f"{min_io_timeout(ping_timeout)}"
    )


@dataclass(frozen=True)
class Volume:
    """What `gluster volume info` says of one volume; `options` holds only those set on it."""

    name: str
    status: str
    replica: int
    arbiter: int
    bricks: tuple[str, ...]
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def ping_timeout(self) -> int:
        text = self.options.get("network.ping-timeout", str(DEFAULT_PING_TIMEOUT))
        try:
            return int(text)
        except ValueError:
            return 0


def _same(value: str | None, wanted: str) -> bool:
    if value is None:
        return False
    value = value.lower()
    if wanted in _ON:
        return value in _ON
    if wanted in _OFF:
        return value in _OFF
    return value == wanted


def volume_problems(volume: Volume, io_timeout: int) -> list[str]:
    """Every reason `volume` cannot hold the hosted-engine domain, each one sentence naming what to set."""
    name = volume.name
    problems = []
    if volume.status != "Started":
        problems.append(f"volume {name} is {volume.status}: start it (gluster volume start {name})")
    if volume.replica != 3 or volume.arbiter not in (0, 1) or len(volume.bricks) != 3:
        shape = f"replica {volume.replica}" + (f" arbiter {volume.arbiter}" if volume.arbiter else "")
        problems.append(
            f"volume {name} is {shape} with {len(volume.bricks)} bricks: hosted-engine needs replica 3 "
            "(or replica 3 arbiter 1) with one brick per host, so losing one host keeps quorum"
        )
    wrong = [k for k, v in VIRT_OPTIONS.items() if not _same(volume.options.get(k), v)]
    if wrong:
        problems.append(
            f"volume {name} lacks the virt group's {', '.join(wrong)}: set them (gluster volume set {name} group virt)"
        )
    for option, wanted in (("storage.owner-uid", OWNER_UID), ("storage.owner-gid", OWNER_GID)):
        if volume.options.get(option) != wanted:
            problems.append(
                f"volume {name} has {option} {volume.options.get(option, 'unset')}: set it to {wanted} "
                f"(gluster volume set {name} {option} {wanted})"
            )
    timing = timing_problem(volume.ping_timeout, io_timeout)
    if timing is not None:
        problems.append(timing)
    return problems


# -- the gluster CLI ---------------------------------------------------------------------------------


def parse_volume_info(xml_text: str, name: str) -> Volume:
    """`gluster --xml volume info NAME`; StorageUnavailable when gluster says no or the answer is not its XML."""
    try:
        root = ElementTree.fromstring(xml_text)
    except ElementTree.ParseError as e:
        raise StorageUnavailable(f"gluster volume info {name}: not gluster's XML ({e})") from None
    if (root.findtext("opRet") or "-1").strip() != "0":
        reason = (root.findtext("opErrstr") or "").strip() or "no reason given"
        raise StorageUnavailable(f"gluster volume info {name} failed: {reason}")
    for vol in root.iter("volume"):
        if (vol.findtext("name") or "") != name:
            continue
        options = {
            (o.findtext("name") or ""): (o.findtext("value") or "") for o in vol.iter("option") if o.findtext("name")
        }
        bricks = tuple((b.findtext("name") or (b.text or "")).strip() for b in vol.iter("brick"))
        return Volume(
            name=name,
            status=(vol.findtext("statusStr") or "unknown").strip(),
            replica=int(vol.findtext("replicaCount") or 1),
            arbiter=int(vol.findtext("arbiterCount") or 0),
            bricks=bricks,
            options=options,
        )
    raise StorageUnavailable(f"gluster volume info: there is no volume {name}")


def read_volume(name: str, remote_host: str | None = None) -> Volume:
    """Ask glusterd (this host's, or `remote_host`'s) about volume `name`."""
    command = ["gluster", "--mode=script", "--xml"]
    if remote_host:
        command.append(f"--remote-host={remote_host}")
    command += ["volume", "info", name]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=GLUSTER_TIMEOUT, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired:
        raise StorageUnavailable(f"gluster volume info {name} did not answer within {GLUSTER_TIMEOUT:g} s") from None
    except OSError as e:
        raise StorageUnavailable(
            f"cannot run gluster ({e.strerror}): install the gluster CLI (glusterfs-cli) so the volume can be checked"
        ) from None
    if not done.stdout.strip():
        reason = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise StorageUnavailable(f"gluster volume info {name} failed: {reason}")
    return parse_volume_info(done.stdout, name)


def check_connection(spec: str, io_timeout: int, remote_host: str | None = None) -> list[str]:
    """Deploy's check of `storage=host:/volume`: the volume's problems, asking `host` unless told otherwise."""
    server, _, path = spec.partition(":")
    volume = path.strip("/").split("/")[0]
    return volume_problems(read_volume(volume, remote_host or server), io_timeout)
