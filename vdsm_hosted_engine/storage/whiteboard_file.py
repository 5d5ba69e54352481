"""Reading and writing the whiteboard file (format: `whiteboard.py`).

- Reads take the whole area in one aligned O_DIRECT read, so every slot comes from one I/O and no
  page cache hides another host's newer write. A reader keeps its read buffer (a private anonymous
  map, paged in once) and its per-slot cache: each cycle decodes only the slots whose bytes changed
  (`whiteboard.decode_whiteboard`). Both are guarded by one lock (the agent, the storage monitor and
  RPC threads read through the same reader).
- A host writes only its own slot, one aligned 4096-byte O_DIRECT write, and only while sanlock says
  its daemon holds that host id (a host that lost its id must not scribble over a slot another host
  may have taken).
- The global slot is read, modified and written back whole (last writer wins per flag).
- Bad input (a slot object that cannot be encoded) raises before anything touches the file.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import mmap
import os
import threading
from collections.abc import Callable, Iterator

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import HostIdNotHeld, StorageUnavailable
from vdsm_hosted_engine.storage import whiteboard
from vdsm_hosted_engine.storage.sanlock_lockspace import Lockspace
from vdsm_hosted_engine.storage.whiteboard import GlobalSlot, HostSlot, Whiteboard

logger = logging.getLogger(__name__)

SLOT_SIZE = constants.SLOT_SIZE


def create_metadata_file(path: str, size: int = constants.METADATA_SIZE) -> None:
    """A zero-filled metadata file (every slot empty), written and fsynced (no sparse holes)."""
    zeros = bytes(1024 * 1024)
    with open(path, "xb") as f:
        remaining = size
        while remaining:
            chunk = min(remaining, len(zeros))
            f.write(zeros[:chunk])
            remaining -= chunk
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def _direct(path: str, flags: int) -> Iterator[int]:
    try:
        fd = os.open(path, flags | os.O_DIRECT | os.O_CLOEXEC | os.O_NOFOLLOW)  # never through a symlink
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise StorageUnavailable(f"{path}: the filesystem does not support O_DIRECT") from None
        raise StorageUnavailable(f"cannot open {path}: {e.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def _aligned(size: int) -> mmap.mmap:
    """A page-aligned buffer, as O_DIRECT needs: private anonymous memory (a shared map is shmem,
    slower to fault in and to read into)."""
    return mmap.mmap(-1, max(size, mmap.PAGESIZE), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


class WhiteboardFile:
    """The metadata file of a storage domain; `lockspace` guards writes by host id."""

    def __init__(self, path: str, lockspace: Lockspace | None = None) -> None:
        self.path = path
        self.lockspace = lockspace
        self._lock = threading.Lock()
        self._buffer: mmap.mmap | None = None  # the last read's area, reused by the next
        self._slots: whiteboard.SlotCache = {}

    def __repr__(self) -> str:
        return f"WhiteboardFile({self.path!r})"

    def _read_area(self) -> bytes | mmap.mmap:
        """The whole area, one O_DIRECT read into the kept buffer (returned as it is when the read was
        complete, so it is valid until the next read). Caller holds `_lock`."""
        with _direct(self.path, os.O_RDONLY) as fd:
            try:
                size = os.fstat(fd).st_size
            except OSError as e:
                raise StorageUnavailable(f"cannot stat {self.path}: {e.strerror}") from None
            size -= size % SLOT_SIZE
            if not size:
                return b""
            if self._buffer is None or len(self._buffer) != size:
                if self._buffer is not None:
                    self._buffer.close()
                self._buffer = _aligned(size)
                # Transparent huge pages: the kernel pins ~4 pages per read instead of 2000 (the
                # 8 MiB read measured ~35% faster). Without THP support the advice is refused: fine.
                with contextlib.suppress(OSError):
                    self._buffer.madvise(mmap.MADV_HUGEPAGE)
            try:
                got = os.preadv(fd, [self._buffer], 0)
            except OSError as e:
                raise StorageUnavailable(f"cannot read {self.path}: {e.strerror}") from None
        return self._buffer if got == size else self._buffer[:got]

    def read_bytes(self) -> bytes:
        """The whole area, one O_DIRECT read."""
        with self._lock:
            return self._read_area()[:]

    def read(self) -> Whiteboard:
        """Decode the whole area (the slots that changed since this reader's last read); corrupt slots
        come back listed, never raised."""
        with self._lock:
            board = whiteboard.decode_whiteboard(self._read_area(), self._slots)
        for invalid in board.invalid.values():
            logger.warning("whiteboard slot %d ignored: %s", invalid.slot, invalid.reason)
        if isinstance(board.global_, whiteboard.InvalidSlot):
            logger.warning("whiteboard global slot ignored: %s", board.global_.reason)
        return board

    def _write_block(self, slot: int, block: bytes) -> None:
        if len(block) != SLOT_SIZE:
            raise ValueError(f"block is {len(block)} bytes, not {SLOT_SIZE}")
        buf = _aligned(SLOT_SIZE)
        try:
            buf[:SLOT_SIZE] = block
            with _direct(self.path, os.O_WRONLY | os.O_DSYNC) as fd:
                try:
                    written = os.pwritev(fd, [memoryview(buf)[:SLOT_SIZE]], slot * SLOT_SIZE)
                except OSError as e:
                    raise StorageUnavailable(f"cannot write slot {slot} of {self.path}: {e.strerror}") from None
                if written != SLOT_SIZE:
                    raise StorageUnavailable(f"short write of slot {slot} of {self.path}: {written} bytes")
        finally:
            buf.close()

    def _require_host_id(self, host_id: int) -> None:
        if self.lockspace is None:
            raise HostIdNotHeld(host_id)
        if self.lockspace.holds(host_id) is not True:
            raise HostIdNotHeld(host_id)

    def write_host_slot(self, slot: HostSlot, wall_time: float | None = None) -> None:
        """Publish this host's slot; refused (HostIdNotHeld) unless sanlock holds its host id."""
        block = whiteboard.encode_host_slot(slot, wall_time)  # raises before any I/O
        self._require_host_id(slot.host_id)
        self._write_block(slot.host_id, block)
        logger.debug("wrote whiteboard slot %d (score %d, state %s)", slot.host_id, slot.score, slot.state)

    def clear_host_slot(self, host_id: int, writer_host_id: int) -> None:
        """Empty `host_id`'s slot (clean-metadata), written by the host holding `writer_host_id`."""
        if not 1 <= host_id <= constants.MAX_HOST_ID:
            raise ValueError(f"host id {host_id} out of range")
        self._require_host_id(writer_host_id)
        self._write_block(host_id, bytes(SLOT_SIZE))
        logger.info("cleared whiteboard slot %d", host_id)

    def read_global(self) -> whiteboard.GlobalReading:
        with _direct(self.path, os.O_RDONLY) as fd:
            buf = _aligned(SLOT_SIZE)
            try:
                got = os.preadv(fd, [buf], 0)
            except OSError as e:
                raise StorageUnavailable(f"cannot read {self.path}: {e.strerror}") from None
            finally:
                data = buf[:SLOT_SIZE]
                buf.close()
        return whiteboard.decode_global_slot(data[:got])

    def update_global(self, writer_host_id: int, change: Callable[[GlobalSlot], GlobalSlot]) -> GlobalSlot:
        """Read-modify-write the global slot. A damaged global block is replaced by `change` applied
        to the defaults (it held nothing trustworthy), and that is logged."""
        current = self.read_global()
        if isinstance(current, whiteboard.InvalidSlot):
            logger.warning("global slot was damaged (%s); rewriting it", current.reason)
            current = GlobalSlot()
        updated = change(current)
        block = whiteboard.encode_global_slot(updated)
        self._require_host_id(writer_host_id)
        self._write_block(0, block)
        return updated

    def set_global_maintenance(self, writer_host_id: int, enabled: bool) -> GlobalSlot:
        logger.info("setting global maintenance %s", "on" if enabled else "off")
        return self.update_global(writer_host_id, lambda g: GlobalSlot(maintenance=enabled, extra=dict(g.extra)))
