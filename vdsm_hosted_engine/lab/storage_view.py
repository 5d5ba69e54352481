"""A host's view of the shared storage domain: a FUSE pass-through the lab can break.

Real hosts reach the domain over NFS; when their storage path fails, every I/O fails, including the
sanlock daemon's and qemu's on files they opened long ago. A bind mount cannot do that (open files
keep working), so each lab host sees the shared directory through this small FUSE file system, run
inside the host's mount namespace at the domain's path. While the file `<cut>` exists every
operation fails with EIO (checked by a watcher thread, 10 times a second): `cut-storage` creates it,
`restore-storage` removes it. O_DIRECT opens work (the view uses FUSE direct_io).

    python -m vdsm_hosted_engine.lab.storage_view BACKING MOUNTPOINT CUTFILE
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import time

from fuse import FUSE, FuseOSError, Operations

from vdsm_hosted_engine import constants

logger = logging.getLogger(__name__)


class PassThrough(Operations):
    def __init__(self, backing: str, cut_file: str) -> None:
        self.backing = backing
        self.cut_file = cut_file
        self.cut = False
        # lab fault "a different lease file at the same path": <host dir>/lease-swap -> other.leases
        host_dir = os.path.dirname(cut_file)
        self.swap_file = os.path.join(host_dir, "lease-swap")
        self.other_lease = os.path.join(host_dir, "other.leases")
        self.swapped = False
        threading.Thread(target=self._watch, name="cut-watch", daemon=True).start()

    def _watch(self) -> None:
        while True:
            cut = os.path.exists(self.cut_file)
            if cut != self.cut:
                logger.warning("storage %s", "CUT: every operation fails with EIO" if cut else "restored")
                self.cut = cut
            swapped = os.path.exists(self.swap_file)
            if swapped != self.swapped:
                logger.warning("the Engine VM lease is %s", "SWAPPED for another file" if swapped else "the real one")
                self.swapped = swapped
            time.sleep(0.1)

    def _path(self, path: str) -> str:
        if self.cut:
            raise FuseOSError(errno.EIO)
        if self.swapped and path == f"/{constants.HA_AGENT_DIR}/{constants.LEASES_FILE}":
            return self.other_lease
        return os.path.join(self.backing, path.lstrip("/"))

    def __call__(self, op, *args):
        try:
            return super().__call__(op, *args)
        except OSError as e:
            raise FuseOSError(e.errno or errno.EIO) from None

    # -- metadata ------------------------------------------------------------------------------

    def getattr(self, path, fh=None):
        st = os.fstat(fh) if fh is not None and not self.cut else os.lstat(self._path(path))
        keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime", "st_mtime", "st_ctime")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        return [".", "..", *os.listdir(self._path(path))]

    def access(self, path, amode):
        if not os.access(self._path(path), amode):
            raise FuseOSError(errno.EACCES)

    def statfs(self, path):
        st = os.statvfs(self._path(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
                "f_frsize", "f_namemax")  # fmt: skip
        return {k: getattr(st, k) for k in keys}

    def chmod(self, path, mode):
        os.chmod(self._path(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._path(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._path(path), times)

    def mkdir(self, path, mode):
        os.mkdir(self._path(path), mode)

    def rmdir(self, path):
        os.rmdir(self._path(path))

    def unlink(self, path):
        os.unlink(self._path(path))

    def rename(self, old, new):
        os.rename(self._path(old), self._path(new))

    def symlink(self, target, source):
        os.symlink(source, self._path(target))

    def readlink(self, path):
        return os.readlink(self._path(path))

    def truncate(self, path, length, fh=None):
        if fh is not None:
            self._path(path)
            os.ftruncate(fh, length)
        else:
            os.truncate(self._path(path), length)

    # -- data ----------------------------------------------------------------------------------

    def open(self, path, flags):
        # The view bypasses the page cache already (direct_io); the backing file is opened without
        # O_DIRECT because our buffers are not aligned. Every host shares this machine's page cache,
        # so the backing side stays coherent between hosts.
        return os.open(self._path(path), flags & ~os.O_DIRECT)

    def create(self, path, mode, fi=None):
        return os.open(self._path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path, size, offset, fh):
        self._path(path)
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._path(path)
        return os.pwrite(fh, data, offset)

    def flush(self, path, fh):
        self._path(path)

    def fsync(self, path, datasync, fh):
        self._path(path)
        (os.fdatasync if datasync else os.fsync)(fh)

    def release(self, path, fh):
        os.close(fh)


def main(argv: list[str] | None = None) -> int:
    backing, mountpoint, cut_file = (argv if argv is not None else sys.argv[1:])[:3]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s storage-view: %(message)s")
    # direct_io: every read and write reaches us (no page cache), as O_DIRECT users expect.
    # nonempty: the view is mounted over the shared directory itself (same path on every host).
    FUSE(PassThrough(backing, cut_file), mountpoint, foreground=True, nothreads=False, direct_io=True,
         allow_other=True, default_permissions=True, nonempty=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
