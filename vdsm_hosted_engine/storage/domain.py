"""The shared storage domain: a directory every host sees (an NFS/GlusterFS mount in production).

Layout (DESIGN.md section 4)::

    <domain>/ha_agent/hosted-engine.domain      identity: sdUUID, io_timeout, format version (JSON)
    <domain>/ha_agent/hosted-engine.lockspace   sanlock lockspace "hosted-engine" (1 MiB, 2000 host ids)
    <domain>/ha_agent/hosted-engine.metadata    the whiteboard (2001 x 4096 bytes)
    <domain>/ha_agent/hosted-engine.leases      sanlock resource "engine-vm" (1 MiB)
    <domain>/ha_agent/hosted-engine.conf        shared configuration (written by deploy)
    <domain>/images/<image-uuid>/<volume-uuid>  the Engine VM disk

Creation never leaves half a domain behind: every file is built in a staging directory beside
`ha_agent` (sanlock's on-disk records do not contain their path), and the staging directory is
renamed into place only when complete; any failure removes it. Creating over an existing domain is
refused unless forced; forced creation swaps the new `ha_agent` in and removes the old one. Writing
the lockspace and lease needs a running sanlock daemon (libsanlock asks it to do the I/O).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import DomainExists, DomainNotFound, StorageUnavailable
from vdsm_hosted_engine.storage.sanlock_lockspace import Lockspace
from vdsm_hosted_engine.storage.sanlock_resource import EngineVmLease
from vdsm_hosted_engine.storage.whiteboard_file import WhiteboardFile, create_metadata_file

logger = logging.getLogger(__name__)

DOMAIN_FORMAT_VERSION = 1


@dataclass(frozen=True)
class DomainIdentity:
    """Written once at creation; lets hosts (and a migration source and destination) prove they see
    the same domain."""

    sd_uuid: str
    io_timeout: int
    created: float
    version: int = DOMAIN_FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, path: str, text: str) -> DomainIdentity:
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            identity = cls(
                sd_uuid=str(uuid.UUID(data["sd_uuid"])),
                io_timeout=int(data["io_timeout"]),
                created=float(data["created"]),
                version=int(data["version"]),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise DomainNotFound(f"{path}: damaged domain identity ({e})") from None
        if identity.version > DOMAIN_FORMAT_VERSION:
            raise DomainNotFound(f"{path}: domain format {identity.version} is newer than this version reads")
        return identity


def check_directory(path: str) -> None:
    """The domain path must be an existing, writable directory supporting O_DIRECT."""
    if not os.path.isabs(path):
        raise DomainNotFound(f"storage path {path!r} is not absolute")
    if not os.path.exists(path):
        raise DomainNotFound(f"storage path {path} does not exist")
    if not os.path.isdir(path):
        raise DomainNotFound(f"storage path {path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise StorageUnavailable(f"storage path {path} is not writable")
    probe = os.path.join(path, f".he-odirect-probe-{uuid.uuid4().hex[:8]}")
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_DIRECT, 0o600)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(probe)
        if e.errno == 22:
            raise StorageUnavailable(f"storage path {path} does not support O_DIRECT") from None
        raise StorageUnavailable(f"storage path {path}: {e.strerror}") from None
    os.close(fd)
    os.unlink(probe)


class StorageDomain:
    """A hosted-engine storage domain directory."""

    def __init__(self, path: str, identity: DomainIdentity) -> None:
        self.path = path
        self.identity = identity

    def __repr__(self) -> str:
        return f"StorageDomain({self.path!r}, sdUUID={self.identity.sd_uuid})"

    # -- paths --------------------------------------------------------------------------------

    @staticmethod
    def ha_agent_dir_of(path: str) -> str:
        return os.path.join(path, constants.HA_AGENT_DIR)

    @property
    def ha_agent_dir(self) -> str:
        return self.ha_agent_dir_of(self.path)

    @property
    def images_dir(self) -> str:
        return os.path.join(self.path, constants.IMAGES_DIR)

    @property
    def lockspace_path(self) -> str:
        return os.path.join(self.ha_agent_dir, constants.LOCKSPACE_FILE)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.ha_agent_dir, constants.METADATA_FILE)

    @property
    def leases_path(self) -> str:
        return os.path.join(self.ha_agent_dir, constants.LEASES_FILE)

    @property
    def shared_conf_path(self) -> str:
        return os.path.join(self.ha_agent_dir, constants.SHARED_CONF_FILE)

    @property
    def identity_path(self) -> str:
        return os.path.join(self.ha_agent_dir, constants.DOMAIN_ID_FILE)

    # -- the parts ----------------------------------------------------------------------------

    def lockspace(self) -> Lockspace:
        return Lockspace(self.lockspace_path)

    def engine_vm_lease(self) -> EngineVmLease:
        return EngineVmLease(self.leases_path)

    def whiteboard(self, lockspace: Lockspace | None = None) -> WhiteboardFile:
        return WhiteboardFile(self.metadata_path, lockspace)

    # -- open / create ------------------------------------------------------------------------

    @classmethod
    def exists_at(cls, path: str) -> bool:
        """Whether `path` holds anything of a hosted-engine domain (even a damaged one)."""
        ha_agent = cls.ha_agent_dir_of(path)
        return os.path.isdir(ha_agent) and bool(os.listdir(ha_agent))

    @classmethod
    def open(cls, path: str) -> StorageDomain:
        """Open an existing domain, checking its identity and that every file has its size."""
        path = os.path.normpath(path)
        if not os.path.isdir(path):
            raise DomainNotFound(f"storage path {path} does not exist or is not a directory")
        id_path = os.path.join(cls.ha_agent_dir_of(path), constants.DOMAIN_ID_FILE)
        try:
            with open(id_path, encoding="utf-8") as f:
                text = f.read(4096)
        except FileNotFoundError:
            raise DomainNotFound(f"{path} is not a hosted-engine storage domain (no {id_path})") from None
        except (OSError, UnicodeDecodeError) as e:
            raise StorageUnavailable(f"cannot read {id_path}: {e}") from None
        domain = cls(path, DomainIdentity.from_json(id_path, text))
        for file, size in (
            (domain.lockspace_path, constants.SANLOCK_ALIGNMENT),
            (domain.leases_path, constants.SANLOCK_ALIGNMENT),
            (domain.metadata_path, constants.METADATA_SIZE),
        ):
            try:
                actual = os.stat(file).st_size
            except FileNotFoundError:
                raise DomainNotFound(f"damaged storage domain {path}: {file} is missing") from None
            except OSError as e:
                raise StorageUnavailable(f"cannot stat {file}: {e.strerror}") from None
            if actual < size:
                raise DomainNotFound(f"damaged storage domain {path}: {file} is {actual} bytes, expected {size}")
        return domain

    @classmethod
    def create(
        cls,
        path: str,
        io_timeout: int = constants.DEFAULT_IO_TIMEOUT,
        sd_uuid: str | None = None,
        force: bool = False,
        now: float = 0.0,
    ) -> StorageDomain:
        """Lay out a new domain in `path` (an existing, writable, O_DIRECT-capable directory).

        `now` (wall-clock seconds) only dates the identity. Refuses (DomainExists) when `path`
        already holds a domain unless `force`; forcing over a domain that hosts have joined makes
        them drop the lockspace: only for a domain no host uses.
        """
        if not 1 <= io_timeout <= 60:
            raise ValueError(f"io_timeout {io_timeout} out of range 1..60 s")
        path = os.path.normpath(path)
        check_directory(path)
        if cls.exists_at(path) and not force:
            raise DomainExists(f"{path} already holds a hosted-engine storage domain (use force to replace it)")
        identity = DomainIdentity(str(uuid.UUID(sd_uuid)) if sd_uuid else str(uuid.uuid4()), io_timeout, now)
        staging = os.path.join(path, f".{constants.HA_AGENT_DIR}.new-{uuid.uuid4().hex[:8]}")
        os.mkdir(staging, 0o755)
        try:
            staged = cls(path, identity)
            lockspace = Lockspace(os.path.join(staging, constants.LOCKSPACE_FILE))
            lease = EngineVmLease(os.path.join(staging, constants.LEASES_FILE))
            for file in (lockspace.path, lease.path):
                with open(file, "xb") as f:
                    f.write(bytes(constants.SANLOCK_ALIGNMENT))
            lockspace.initialize(io_timeout)
            lease.initialize()
            create_metadata_file(os.path.join(staging, constants.METADATA_FILE))
            # The identity is the last file: its presence marks a complete domain.
            with open(os.path.join(staging, constants.DOMAIN_ID_FILE), "x", encoding="utf-8") as f:
                f.write(identity.to_json())
                f.flush()
                os.fsync(f.fileno())
            cls._swap_in(path, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        os.makedirs(staged.images_dir, exist_ok=True)
        logger.info("created storage domain %s in %s (io_timeout %d s)", identity.sd_uuid, path, io_timeout)
        return cls.open(path)

    @classmethod
    def _swap_in(cls, path: str, staging: str) -> None:
        target = cls.ha_agent_dir_of(path)
        old = None
        if os.path.exists(target):
            old = os.path.join(path, f".{constants.HA_AGENT_DIR}.old-{uuid.uuid4().hex[:8]}")
            os.rename(target, old)
        try:
            os.rename(staging, target)
        except OSError:
            if old is not None:
                os.rename(old, target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
            logger.warning("replaced the existing hosted-engine domain in %s", path)
