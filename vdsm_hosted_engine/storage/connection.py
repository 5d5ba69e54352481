"""The storage connection of `hosted-engine.conf`: what to mount, where, and with which options.

Pure: values in, values out (no mounts, no files). `storage/mount.py` runs the commands.

Keys (oVirt's names)::

    domainType=dir        storage=/abs/path           a directory someone else provides (lab, tests)
    domainType=nfs        storage=server:/export      mounted -t nfs
    domainType=glusterfs  storage=host:/volume        mounted -t glusterfs (FUSE)
    domainType=posixfs    storage=SPEC  vfs_type=T    mounted -t T
    mnt_options=a,b=c     extra mount options, e.g. backup-volfile-servers=h2:h3 (theirs win)
    nfs_version=auto|3|4|4.0|4.1|4.2

Mount point, as VDSM derives it (`fileUtils.transformPath`): under the mount root
(`/rhev/data-center/mnt`), `_` doubled and `/` turned into `_`, GlusterFS volumes one level down in
`glusterSD/`: `nfs1:/exports/he` -> `<root>/nfs1:_exports_he`, `g1:/engine` -> `<root>/glusterSD/g1:_engine`.
The hosted-engine domain lives at the root of the mount.

NFS timing. sanlock fails a host's renewals 8 x io_timeout after the last good one. A `hard` mount
blocks a stuck read forever (sanlock's own aio still times out; our reads are bounded by the agent's
call timeout); a `soft` mount fails it with EIO after the retries: over TCP each retry waits `timeo`
longer than the one before (nfs(5): linear backoff), so an I/O fails after
`timeo/10 x (1 + 2 + ... + (retrans + 1))` seconds. The product mounts soft with retrans=3 and
`timeo = 8 x io_timeout` deciseconds, so a stuck I/O errors out exactly when sanlock gives up the
host (io 10 s: timeo=80, 8+16+24+32 = 80 s), never later; `nfs_timing_problem` refuses options that fail
later than that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vdsm_hosted_engine import constants

DEFAULT_MOUNT_ROOT = "/rhev/data-center/mnt"
GLUSTER_DIR = "glusterSD"
DOMAIN_TYPES = ("dir", "nfs", "glusterfs", "posixfs")
NFS_VERSIONS = ("auto", "3", "4", "4.0", "4.1", "4.2")
NFS_RETRANS = 3
NFS_MAX_TIMEO = 600  # deciseconds: the kernel caps one retry's wait at 60 s

_SERVER = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)"
_REMOTE = re.compile(rf"^(?P<server>{_SERVER}):(?P<path>/[^\0]*)$")
_OPTION = re.compile(r"^[A-Za-z0-9_.-]+(=[^,=\s]+)?$")
_HOSTLIST = re.compile(rf"^{_SERVER}(:{_SERVER})*$")


def transform_path(remote: str) -> str:
    """VDSM's `fileUtils.transformPath`: a remote spec as one directory name."""
    return remote.replace("_", "__").replace("/", "_")


def normalize_remote(spec: str) -> str:
    """`server:/a//b/` -> `server:/a/b`; ValueError when `spec` is not `server:/path`."""
    match = _REMOTE.match(spec)
    if match is None:
        raise ValueError("not server:/path")
    parts = [p for p in match.group("path").split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError("the path must not hold . or .. parts")
    return f"{match.group('server')}:/{'/'.join(parts)}"


def split_options(text: str) -> tuple[str, ...]:
    """`a,b=c` -> ('a', 'b=c'); ValueError naming the first bad option."""
    if not text.strip():
        return ()
    options = tuple(o.strip() for o in text.split(","))
    for option in options:
        if not _OPTION.match(option):
            raise ValueError(f"{option!r} is not a mount option (name or name=value)")
        name, _, value = option.partition("=")
        if name == "backup-volfile-servers" and not _HOSTLIST.match(value):
            raise ValueError("backup-volfile-servers must be host names separated by ':'")
    return options


def _option_names(options: tuple[str, ...]) -> set[str]:
    return {o.partition("=")[0] for o in options}


def _merge(defaults: list[str], extra: tuple[str, ...]) -> tuple[str, ...]:
    """The defaults, less those the admin's options name (theirs win), then the admin's."""
    names = _option_names(extra)
    if names & {"soft", "hard"}:
        names |= {"soft", "hard"}
    return tuple(o for o in defaults if o.partition("=")[0] not in names) + extra


def nfs_timeo(io_timeout: int, retrans: int = NFS_RETRANS) -> int:
    """The largest `timeo` (deciseconds) whose soft failure comes no later than sanlock's renewal failure."""
    steps = (retrans + 1) * (retrans + 2) // 2
    return max(1, min(NFS_MAX_TIMEO, constants.SANLOCK_RENEWAL_FAIL_FACTOR * io_timeout * 10 // steps))


def nfs_soft_failure_seconds(timeo: int, retrans: int) -> float:
    """Seconds until a soft NFS mount over TCP fails a stuck I/O (linear backoff, capped at 60 s a retry)."""
    return sum(min(timeo * k, NFS_MAX_TIMEO) for k in range(1, retrans + 2)) / 10


def _option_int(options: tuple[str, ...], name: str, default: int) -> int:
    for option in options:
        key, _, value = option.partition("=")
        if key == name:
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"{name}={value} is not an integer") from None
    return default


@dataclass(frozen=True)
class StorageConnection:
    """One storage connection; `parse` validates it, the rest derives commands and checks from it."""

    domain_type: str
    spec: str
    mnt_options: tuple[str, ...] = ()
    nfs_version: str = "auto"
    vfs_type: str | None = None

    @classmethod
    def parse(
        cls, domain_type: str, spec: str, mnt_options: str = "", nfs_version: str = "auto", vfs_type: str | None = None
    ) -> StorageConnection:
        """Raises ValueError with one sentence naming the key at fault."""
        if domain_type not in DOMAIN_TYPES:
            raise ValueError(f"domainType must be one of {', '.join(DOMAIN_TYPES)}")
        if nfs_version not in NFS_VERSIONS:
            raise ValueError(f"nfs_version must be one of {', '.join(NFS_VERSIONS)}")
        try:
            options = split_options(mnt_options)
        except ValueError as e:
            raise ValueError(f"mnt_options: {e}") from None
        if domain_type == "dir":
            if not spec.startswith("/") or "\0" in spec:
                raise ValueError("storage must be an absolute path with domainType=dir")
            if options:
                raise ValueError("mnt_options has no meaning with domainType=dir (nothing is mounted)")
            return cls("dir", "/" + "/".join(p for p in spec.split("/") if p))
        if domain_type in ("nfs", "glusterfs"):
            try:
                spec = normalize_remote(spec)
            except ValueError as e:
                raise ValueError(f"storage must be server:/path with domainType={domain_type} ({e})") from None
            if domain_type == "glusterfs" and spec.endswith(":/"):
                raise ValueError("storage must name the volume, host:/volume, with domainType=glusterfs")
        elif not spec or "\0" in spec or any(c.isspace() for c in spec):
            raise ValueError("storage must be a device or remote spec with no blanks with domainType=posixfs")
        if domain_type == "posixfs" and not vfs_type:
            raise ValueError("domainType=posixfs needs vfs_type (the file system type to mount)")
        if domain_type == "nfs":
            for name in ("timeo", "retrans"):
                try:
                    _option_int(options, name, 0)
                except ValueError as e:
                    raise ValueError(f"mnt_options: {e}") from None
        return cls(domain_type, spec, options, nfs_version, vfs_type if domain_type == "posixfs" else None)

    @property
    def mounted(self) -> bool:
        """False for `dir`: the product mounts nothing."""
        return self.domain_type != "dir"

    def mount_point(self, root: str = DEFAULT_MOUNT_ROOT) -> str:
        if not self.mounted:
            return self.spec
        base = root.rstrip("/") or "/"
        if self.domain_type == "glusterfs":
            base = f"{base}/{GLUSTER_DIR}"
        return f"{base}/{transform_path(self.spec)}"

    def domain_path(self, root: str = DEFAULT_MOUNT_ROOT) -> str:
        """The storage domain directory: the mount point (the domain lives at its root), or `storage=` for dir."""
        return self.mount_point(root)

    def conf_values(self) -> dict[str, str | None]:
        """hosted-engine.conf's keys for this connection (HostConfig field names; None = not written)."""
        return {
            "storage": self.spec,
            "domain_type": self.domain_type,
            "mnt_options": ",".join(self.mnt_options) or None,
            "nfs_version": None if self.nfs_version == "auto" else self.nfs_version,
            "vfs_type": self.vfs_type,
        }

    @property
    def fstype(self) -> str:
        return {"nfs": "nfs", "glusterfs": "glusterfs"}.get(self.domain_type, self.vfs_type or "")

    def mount_options(self, io_timeout: int = constants.DEFAULT_IO_TIMEOUT) -> tuple[str, ...]:
        """Options for `mount -o`; for NFS sized to sanlock's `io_timeout` (module docstring)."""
        if self.domain_type == "nfs":
            defaults = ["soft", "nosharecache", f"timeo={nfs_timeo(io_timeout)}", f"retrans={NFS_RETRANS}"]
            if self.nfs_version != "auto":
                defaults.append(f"vers={self.nfs_version}")
            return _merge(defaults, self.mnt_options)
        return self.mnt_options

    def mount_command(
        self, root: str = DEFAULT_MOUNT_ROOT, io_timeout: int = constants.DEFAULT_IO_TIMEOUT
    ) -> list[str]:
        if not self.mounted:
            raise ValueError("domainType=dir is not mounted by hosted-engine")
        command = ["mount", "-t", self.fstype]
        options = self.mount_options(io_timeout)
        if options:
            command += ["-o", ",".join(options)]
        return [*command, self.spec, self.mount_point(root)]

    def umount_command(self, root: str = DEFAULT_MOUNT_ROOT) -> list[str]:
        """Never lazy (-l): a busy mount (a running VM's disk, sanlock's lockspace) must refuse."""
        return ["umount", self.mount_point(root)]

    def nfs_timing_problem(self, io_timeout: int) -> str | None:
        """One sentence when a soft NFS mount would fail I/O after sanlock already gave the host up."""
        if self.domain_type != "nfs":
            return None
        options = self.mount_options(io_timeout)
        if "hard" in options:
            return None
        timeo = _option_int(options, "timeo", nfs_timeo(io_timeout))
        retrans = _option_int(options, "retrans", NFS_RETRANS)
        fails_after = nfs_soft_failure_seconds(timeo, retrans)
        limit = constants.SANLOCK_RENEWAL_FAIL_FACTOR * io_timeout
        if fails_after <= limit:
            return None
        safe = nfs_timeo(io_timeout, retrans)
        return (
            f"a soft NFS mount with timeo={timeo} retrans={retrans} fails a stuck I/O after {fails_after:g} s, later "
            f"than sanlock's renewal failure ({limit} s at io_timeout {io_timeout}): set timeo={safe} "
            "or lower in mnt_options"
        )

    def servers(self) -> tuple[str, ...]:
        """The primary server and any backup volfile servers (GlusterFS): a mount from any of them is ours."""
        if not self.mounted or self.domain_type == "posixfs":
            return ()
        found = [self.spec.rpartition(":/")[0]]
        for option in self.mnt_options:
            name, _, value = option.partition("=")
            if name in ("backup-volfile-servers", "backupvolfile-server"):
                found += value.split(":")
        return tuple(found)


# -- what is mounted ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo: where, what type, from where."""

    mount_point: str
    fstype: str
    source: str
    options: str = ""


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[MountEntry]:
    """proc(5) mountinfo: `id parent maj:min root MOUNT_POINT OPTIONS [optional...] - FSTYPE SOURCE SUPER`.
    Malformed lines are skipped (the kernel writes this file; a partial read loses a line, not all)."""
    entries = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            dash = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < dash + 3:
            continue
        entries.append(MountEntry(_unescape(fields[4]), fields[dash + 1], _unescape(fields[dash + 2]), fields[5]))
    return entries


def mounted_at(entries: list[MountEntry], mount_point: str) -> MountEntry | None:
    """The entry visible at `mount_point`: the last one mounted there (it hides those below)."""
    found = None
    for entry in entries:
        if entry.mount_point == mount_point.rstrip("/"):
            found = entry
    return found


def _same_source(conn: StorageConnection, source: str) -> bool:
    if conn.domain_type == "posixfs":
        return source == conn.spec
    try:
        server, _, path = normalize_remote(source).rpartition(":/")
    except ValueError:
        # glusterfs FUSE may show `host:volume` (no slash)
        server, _, path = source.partition(":")
    want_server, _, want_path = conn.spec.rpartition(":/")
    return path.strip("/") == want_path and server.lower() in {s.lower() for s in conn.servers() or (want_server,)}


def mount_problem(conn: StorageConnection, entries: list[MountEntry], root: str = DEFAULT_MOUNT_ROOT) -> str | None:
    """None when what is mounted at the connection's mount point is what the configuration says; else why not."""
    if not conn.mounted:
        return None
    where = conn.mount_point(root)
    entry = mounted_at(entries, where)
    if entry is None:
        return f"nothing is mounted at {where}"
    family = entry.fstype.split(".")[-1] if entry.fstype.startswith("fuse.") else entry.fstype
    want = "nfs" if conn.domain_type == "nfs" else conn.fstype
    if family.rstrip("4") != want:
        return f"{where} is a {entry.fstype} mount of {entry.source}, not {conn.domain_type} {conn.spec}"
    if not _same_source(conn, entry.source):
        return f"{where} mounts {entry.source}, not {conn.spec} as hosted-engine.conf says"
    return None
